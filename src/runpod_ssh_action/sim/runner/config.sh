#!/bin/bash
# Stand-in for actions/runner's config.sh: the same flags, registering with the
# stand-in GitHub instead of github.com.

user_id=$(id -u)
# Like the real runner: refuse root unless the caller says it knows what it is doing.
if [ "$user_id" -eq 0 ] && [ -z "$RUNNER_ALLOW_RUNASROOT" ]; then
    echo "Must not run with sudo"
    exit 1
fi

RUNNER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 -I "$RUNNER_ROOT/bin/runner_listener.py" configure "$@"

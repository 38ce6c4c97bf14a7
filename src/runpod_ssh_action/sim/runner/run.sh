#!/bin/bash
# Stand-in for actions/runner's run.sh: `./run.sh` after config.sh, or
# `./run.sh --jitconfig <config>` (or the config in ACTIONS_RUNNER_INPUT_JITCONFIG).

RUNNER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 -I "$RUNNER_ROOT/bin/runner_listener.py" run "$@"

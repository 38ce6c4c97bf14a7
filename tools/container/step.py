#!/usr/bin/python3 -IS
"""Start one step of the action with tini as PID 1, the environment passed on untouched.

GitHub starts a container action's steps by name: the image's ENTRYPOINT for the main
step, `post-entrypoint` (which replaces ENTRYPOINT) for the post step. In the image both
names are links to this file, which replaces itself with tini running the step of the
same name from the venv; tini then forwards SIGINT/SIGTERM to Python and reaps exited ssh
processes. It is not a shell script because dash and bash drop environment variables whose
names are not shell identifiers, and every input arrives as one (INPUT_RUNPOD-API-KEY).
"""

import os
import sys

step = os.path.basename(sys.argv[0])
os.execv("/usr/bin/tini", ["tini", "--", f"/opt/venv/bin/{step}", *sys.argv[1:]])  # noqa: S606

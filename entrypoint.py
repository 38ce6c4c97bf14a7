#!/usr/bin/env python3
"""Run the action from a checkout: ``python entrypoint.py`` is the step (what it does
comes from the ``mode`` input), ``python entrypoint.py post`` its post step, and any
other CLI command (``start``, ``gpus``, ...) works too."""

import sys

from runpod_ssh_action.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["main"]))

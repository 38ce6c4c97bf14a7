#!/usr/bin/env python3
"""Run the action from a checkout: ``python entrypoint.py`` is the step (what it does
comes from the ``mode`` input), ``python entrypoint.py post`` its post step, and any
other CLI command (``start``, ``gpus``, ...) works too."""

if __name__ == "__main__":
    # The signals are taken over before the package loads (a good part of a second): a
    # cancel meanwhile is remembered and handed to main, which acts on it (a start does
    # not begin; a post step still cleans up) instead of Python ending with a traceback.
    try:
        import signal
        import sys
        import threading

        cancelled = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: cancelled.set())
    except KeyboardInterrupt:
        # Python's own handler was still in place: the cancel came first thing.
        print("::error::The step was cancelled before it started: the runner sent a stop signal.")
        raise SystemExit(1) from None

    from runpod_ssh_action.cli import main

    sys.exit(main(sys.argv[1:] or ["main"], cancelled))

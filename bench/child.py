"""The action's process as the runner starts it, with the poll schedule of a strategy.

``python -m bench.child STRATEGY [CLI ARGS]`` runs ``runpod_ssh_action.cli.main`` like
the container's entrypoint does. ``adaptive`` changes nothing: it is the action as
shipped. ``fixed`` swaps in the schedule common among runner actions (the default of
the most used EC2 runner action): the first look at the pods 30 s after they were
created, then one every 10 s; and a look at the runners every 10 s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial

FIXED_QUIET = 30.0
FIXED_EVERY = 10.0
STRATEGIES = ("adaptive", "fixed")


def fixed_schedule(quiet: float, every: float) -> Callable[[float], float]:
    """Looks (after the one at the start) at ``quiet``, ``quiet + every``, ... seconds."""

    def wait(elapsed: float) -> float:
        if elapsed < quiet:
            return quiet - elapsed
        left = every - (elapsed - quiet) % every
        # A sleep that ended a hair early must not buy an extra look.
        return left if left > every / 100 else left + every

    return wait


def main(argv: list[str]) -> int:
    """``argv``: the strategy (``fixed:QUIET:EVERY`` scales the fixed one down, for
    quick runs), then the CLI's arguments."""
    strategy, *args = argv
    name, *numbers = strategy.split(":")
    if name not in STRATEGIES or len(numbers) not in (0, 2):
        raise SystemExit(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if name == "fixed":
        from runpod_ssh_action import bringup, lifecycle

        quiet, every = (float(n) for n in numbers) if numbers else (FIXED_QUIET, FIXED_EVERY)
        # start() looks bring_up up in lifecycle's namespace on every call.
        lifecycle.bring_up = partial(
            bringup.bring_up,
            boot_poll=fixed_schedule(quiet, every),
            online_poll=fixed_schedule(0.0, every),
        )
    from runpod_ssh_action.cli import main as action_main

    return action_main(args or ["main"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Figure 1: readiness overhead, the shipped poll schedule against a fixed one.

For each provider floor (the pod's boot time), four starts run side by side, each on
its own stand-in: with and without a runner, each with the adaptive schedule and with
the fixed one. The starts without a runner begin ``stagger`` seconds after the others,
so the busy moments (start-up, SSH set-up) of the two pairs do not coincide on this
small machine.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .observed import StartView, start_view
from .process import RunningAction
from .standin import stand_in, start_env

# Each boot ends half-way between two looks of the fixed schedule (its grid is 30, 40,
# 50, ... s after the pods were created): its average case, neither lucky nor unlucky.
FLOORS = (5.0, 15.0, 35.0, 65.0, 115.0)
STAGGER = 15.0
# The target: overhead under 1.5 s, or under 5 % of the floor when that is more.
TARGET_SECONDS = 1.5
TARGET_SHARE = 0.05


def target(floor: float) -> float:
    return max(TARGET_SECONDS, TARGET_SHARE * floor)


def measure(
    workdir: Path, floors: tuple[float, ...], strategies: dict[str, str], stagger: float
) -> list[dict[str, Any]]:
    """``strategies`` maps a strategy's name in the results to its ``bench.child``
    argument."""
    results = []
    for floor in floors:
        with ExitStack() as stack:
            planned = []
            for runner in (True, False):
                for name, argument in strategies.items():
                    label = f"ready-{floor:g}s-{'runner' if runner else 'ssh'}-{name}"
                    sim = stack.enter_context(stand_in(workdir / label, floor))
                    planned.append((label, name, argument, runner, sim))
            running = []
            for index, (label, name, argument, runner, sim) in enumerate(planned):
                if index == len(strategies):
                    time.sleep(stagger)
                running.append(
                    (
                        name,
                        runner,
                        sim,
                        RunningAction(label, start_env(sim, runner=runner), argument, []),
                    )
                )
            for name, runner, sim, process in running:
                run = process.result().check()
                view = start_view(sim, run, runner=runner)
                results.append(_row(floor, name, runner, view))
    return results


def _row(boot: float, strategy: str, runner: bool, view: StartView) -> dict[str, Any]:
    return {
        "boot_delay": boot,
        "strategy": strategy,
        "mode": "runner" if runner else "ssh",
        "total": view.total,
        "floor": view.floor,
        "overhead": view.overhead,
        "target": target(view.floor),
        "met": view.overhead < target(view.floor),
        "first_request": view.first_request,
        "phases": [
            {"name": name, "began": began, "ended": ended, "provider": provider}
            for name, began, ended, provider in view.phases()
        ],
    }

"""Figures 2, 3, 5 and 6: starts (and stops) of 1 to 30 pods.

Each start gets its own stand-in with the same provider timings. With runners, each
count is started and then stopped (``mode: stop`` by run id, as a workflow's last job
does). From the start: the requests it made (and what one status request per pod per
round would have cost), its wall time (for the scale ratios) and its peak memory. From
the stop: its requests and time, and whether the terminations ran side by side.

The same counts are also started without runners: on this one machine every pod's
work (its sshd, its bootstrap, its runner process) shares two cores with the action,
which a real pod, a machine of its own, does not.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from runpod_ssh_action.sim import RequestRecord, StandIn

from .observed import action_requests, count_requests, start_view
from .process import ActionRun, run_action
from .standin import stand_in, start_env

COUNTS = (1, 3, 10, 30)
SSH_ONLY_COUNTS = (1, 10, 30)
BOOT_DELAY = 20.0
# The same start at a boot nearer a real GPU pod's (an image pull and a boot take a
# minute or more): what the fixed costs of a large start (its creates, spread by the
# 10 a second budget) weigh against a longer floor.
SLOW_COUNTS = (1, 30)
SLOW_BOOT_DELAY = 60.0
CREATES = ("podRentInterruptable", "podFindAndDeployOnDemand")


def measure(
    workdir: Path, counts: tuple[int, ...], boot_delay: float, *, runner: bool, stop: bool = True
) -> list[dict[str, Any]]:
    results = []
    for count in counts:
        label = f"{'runner' if runner else 'ssh'}-{count}-{boot_delay:g}s"
        with stand_in(workdir / f"fleet-{label}", boot_delay) as sim:
            env = start_env(sim, count=count, runner=runner)
            start = run_action(f"start-{label}", env).check()
            view = start_view(sim, start, runner=runner)
            row: dict[str, Any] = {
                "count": count,
                "mode": "runner" if runner else "ssh",
                "boot_delay": boot_delay,
                "total": view.total,
                "floor": view.floor,
                "overhead": view.overhead,
                "first_request": view.first_request,
                "max_rss_kb": start.max_rss_kb,
                "cpu_seconds": start.cpu_seconds,
                "creates": _span(
                    [r for r in action_requests(sim, start.spawned) if r.operation in CREATES]
                ),
                "start_requests": asdict(count_requests(sim, start.spawned, start.exited)),
                "phases": [
                    {"name": name, "began": began, "ended": ended, "provider": provider}
                    for name, began, ended, provider in view.phases()
                ],
            }
            if runner:
                # Every start is ended; only the first set's stops are reported.
                stop_env = sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"])
                stopped = run_action(f"stop-{label}", stop_env).check()
                if stop:
                    row["stop"] = _stop(sim, stopped)
            results.append(row)
    return results


def _span(records: list[RequestRecord]) -> dict[str, float]:
    """How long a set of requests took side by side, and one by one."""
    if not records:
        return {"count": 0, "span": 0.0, "mean": 0.0}
    return {
        "count": len(records),
        "span": max(r.started + r.duration for r in records) - min(r.started for r in records),
        "mean": sum(r.duration for r in records) / len(records),
    }


def _stop(sim: StandIn, stop: ActionRun) -> dict[str, Any]:
    mine = action_requests(sim, stop.spawned, stop.exited)
    terminations = [r for r in mine if r.operation == "podTerminate"]
    return {
        "seconds": stop.exited - stop.spawned,
        "api_seconds": max(r.started + r.duration for r in mine) - min(r.started for r in mine),
        "requests": asdict(count_requests(sim, stop.spawned, stop.exited)),
        "terminations": len(terminations),
        # Side by side, the terminations take about as long as the slowest one.
        "termination_span": _span(terminations)["span"],
        "termination_sum": sum(r.duration for r in terminations),
        "runner_deletions": _span(
            [r for r in mine if r.operation.startswith("actions/delete-self-hosted-runner")]
        ),
        "pods_left": len(sim.live_pods()),
        "runners_left": len(sim.github.runners()),
    }

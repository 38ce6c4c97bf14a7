"""However a start ends, none of its threads outlives it.

Python joins worker threads at exit, so one still waiting for a pod (an SSH login that
never works, a bootstrap) would keep the step running long after it said it was done,
and past the runner's cancel window. Each case runs the real entrypoint against the
stand-in, with pods whose logins never work so that a set-up worker is waiting when the
start ends; the launcher then gives the threads a generous while to end and reports the
ones still alive. The assertion is on that list, not on how long anything took.
"""

from __future__ import annotations

import subprocess
import sys

from runpod_ssh_action.sim import StandIn

from . import actionrun
from .actionrun import Running, wait_until

A6000 = "NVIDIA RTX A6000"
# A user no pod knows: its sshd refuses every login, so the set-up worker keeps trying.
NO_SUCH_USER = "nobody-here"
# Long past every wait of a test: a worker still trying would be alive at the look.
LONG_STARTUP_MINUTES = "5"
# How long the launcher lets the threads end before it looks.
GRACE_SECONDS = 15.0
LEFT = "THREADS-LEFT:"

# Runs the entrypoint's code, then waits up to a bound for every other thread and
# prints the ones still alive; with any left it ends at once, so that the test reads
# the list instead of waiting for the leftovers.
_LAUNCHER = f"""\
import os, sys, threading, time
from runpod_ssh_action.cli import main
code = main(sys.argv[1:])
ends = time.monotonic() + {GRACE_SECONDS}
for thread in threading.enumerate():
    if thread is not threading.current_thread():
        thread.join(max(0.0, ends - time.monotonic()))
left = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
print("{LEFT}" + ",".join(left), file=sys.stderr, flush=True)
sys.stdout.flush()
if left:
    os._exit(99)
sys.exit(code)
"""


def _launch(env: dict[str, str]) -> Running:
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, "main"],
        env=actionrun.child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=env["GITHUB_WORKSPACE"],
    )
    return Running(process, ("main",), env)


def _threads_left(step: actionrun.Step) -> list[str]:
    line = next((x for x in step.stderr.splitlines() if x.startswith(LEFT)), None)
    assert line is not None, step.describe()
    return [name for name in line.removeprefix(LEFT).split(",") if name]


def _refusing(sim: StandIn, **inputs: str | int) -> dict[str, str]:
    return sim.action_env(gpu_types=A6000, ssh_user=NO_SUCH_USER, **inputs)


def _wait_for_a_refused_login(sim: StandIn, count: int = 1) -> list[str]:
    """Wait until a set-up worker of each of ``count`` pods is trying to log in."""

    def trying() -> list[str]:
        return [
            p.id
            for p in sim.live_pods()
            if any(f"Invalid user {NO_SUCH_USER}" in line for line in sim.sshd_log(p.id))
        ]

    wait_until(lambda: len(trying()) >= count, 60, "a refused SSH login on each pod")
    return trying()


def test_a_start_that_succeeds_leaves_no_thread(sim: StandIn) -> None:
    step = _launch(sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user, count=2)).wait(180)

    assert _threads_left(step) == [], step.describe()
    assert step.returncode == 0, step.describe()


def test_a_start_that_fails_leaves_no_thread(sim: StandIn) -> None:
    running = _launch(_refusing(sim, startup_timeout_minutes=LONG_STARTUP_MINUTES))
    pod_id = _wait_for_a_refused_login(sim)[0]
    # The pod ends under its worker, which goes on trying to log in.
    sim.preempt(pod_id)
    step = running.wait(120)

    assert _threads_left(step) == [], step.describe()
    assert step.returncode == 1, step.describe()
    assert any("ended while it was being set up" in e for e in step.errors), step.describe()
    assert sim.live_pods() == []


def test_a_cancelled_start_leaves_no_thread(sim: StandIn) -> None:
    running = _launch(_refusing(sim, count=2, startup_timeout_minutes=LONG_STARTUP_MINUTES))
    _wait_for_a_refused_login(sim, count=2)
    step = running.cancel()

    assert _threads_left(step) == [], step.describe()
    assert step.returncode == 1, step.describe()
    assert sim.live_pods() == []


def test_a_start_that_times_out_leaves_no_thread(sim: StandIn) -> None:
    step = _launch(_refusing(sim, count=2, startup_timeout_minutes="0.2")).wait(120)

    assert _threads_left(step) == [], step.describe()
    assert step.returncode == 1, step.describe()
    assert any("Could not log in" in e for e in step.errors), step.describe()
    assert sim.live_pods() == []

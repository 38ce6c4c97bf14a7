"""Cancelling a start at random points.

With the runner's cancel sequence (SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after)
the main step ends what it started and the post step finds the rest. With a bare
SIGKILL and no post step at all, the pod's own nets (RunPod's ``terminateAfter``, the
watchdog) still end every pod, and ``mode: reap`` removes the runners left behind.
The points are drawn from a seeded generator, so a failure replays.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from runpod_ssh_action.sim import StandIn

from ..e2e import actionrun as action
from .support import A6000, NIGHTLY, Tally, leak_problems, run_of, step_problems

SEED = 20261130
CANCELS = 48 if NIGHTLY else 12
KILLS = 12 if NIGHTLY else 6
# Short enough that the nets fire within the test, long enough for a runner start.
LIFETIME_MINUTES = "0.5"
STARTUP_MINUTES = "0.4"


@dataclass
class Landing:
    """Where a signal landed: how far the start had got."""

    delay: float
    pods: int
    runners: int
    began: bool
    finished: bool

    @property
    def where(self) -> str:
        if not self.began:
            return "before the step began"
        if self.finished:
            return "after the start finished"
        if self.pods == 0:
            return "before any pod"
        return "after a runner registered" if self.runners else "after a pod, before a runner"


def _progress(sim: StandIn, env: dict[str, str]) -> tuple[int, int]:
    prefix = run_of(env)
    pods = sum(1 for p in sim.all_pods() if p.name.startswith(prefix))
    runners = sum(1 for r in sim.github.runners() if r["name"].startswith(prefix))
    return pods, runners


def test_a_cancel_at_any_point_of_start_leaves_nothing_after_post(
    sim: StandIn, tally: Tally
) -> None:
    rng = random.Random(SEED)
    # A start here takes 5 to 10 s: one signal in each slice of its first 7 s.
    plans = [((n + rng.random()) * 7.0 / CANCELS, rng.choice((1, 2))) for n in range(CANCELS)]

    def one(plan: tuple[float, int]) -> tuple[Landing, list[str], str]:
        delay, count = plan
        env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user, count=count)
        running = action.launch(env)
        time.sleep(delay)
        pods, runners = _progress(sim, env)
        main = running.cancel()
        # What the step achieved is what it saved: a signal that lands once the start
        # is done may end the process on its way out, and one that lands before the
        # entrypoint has its handlers (its first second, spent importing) ends it at
        # once, with Python's KeyboardInterrupt, before anything was asked of RunPod.
        began = "outcome" in main.state
        finished = main.state.get("outcome") == "success"
        landing = Landing(delay, pods, runners, began, finished)
        problems = []
        if began:
            problems += [p for p in step_problems(main) if "traceback" in p]
            if not finished and main.returncode != 1:
                problems.append(f"main did not end within the cancel window ({main.returncode})")
        posted = action.post(main)
        problems += step_problems(posted, may_fail=False)
        if finished:
            # Its pods are up for their jobs, as after any success: the stop job ends them.
            problems += step_problems(
                action.run(sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"]))
            )
        problems += leak_problems(sim, env, requested=count)
        return landing, problems, main.describe() + posted.describe()

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, plans))
    for landing, problems, _ in results:
        tally.add(
            "cancel (INT/TERM/KILL) during start, then post", held=not problems, note=landing.where
        )
    broken = [
        f"cancel after {landing.delay:.1f} s ({landing.where}): {'; '.join(problems)}\n{log}"
        for landing, problems, log in results
        if problems
    ]
    assert not broken, "\n\n".join(broken)


def test_a_killed_start_is_ended_by_the_pods_own_nets_and_reap(sim: StandIn, tally: Tally) -> None:
    rng = random.Random(SEED + 1)
    delays = [(n + rng.random()) * 6.0 / KILLS for n in range(KILLS)]

    def one(delay: float) -> tuple[dict[str, str], Landing]:
        env = sim.action_env(
            gpu_types=A6000,
            ssh_user=sim.ssh_user,
            max_lifetime_minutes=LIFETIME_MINUTES,
            startup_timeout_minutes=STARTUP_MINUTES,
            idle_timeout_minutes="0.05",
        )
        running = action.launch(env)
        time.sleep(delay)
        pods, runners = _progress(sim, env)
        killed = running.kill()
        state = killed.state
        return env, Landing(
            delay, pods, runners, "outcome" in state, state.get("outcome") == "success"
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(one, delays))

    # No post step, no stop job: only what lives with the pod may end it.
    def every_pod_ended() -> bool:
        return not any(p.name.startswith(run_of(env)) for env, _ in runs for p in sim.live_pods())

    nets_held = sim.wait_for(every_pod_ended, 90, interval=0.5)
    ended_by = sorted(
        {
            p.ended_by or "-"
            for env, _ in runs
            for p in sim.all_pods()
            if p.name.startswith(run_of(env))
        }
    )
    for env, _ in runs:
        sim.github.add_workflow_run(int(env["GITHUB_RUN_ID"]), "completed", "cancelled")
    reaped = action.run(sim.action_env(mode="reap"))
    problems = step_problems(reaped, may_fail=False)
    for env, landing in runs:
        left = leak_problems(sim, env)
        nets = sorted({p.ended_by or "-" for p in sim.all_pods() if p.name.startswith(run_of(env))})
        tally.add(
            "SIGKILL during start, no post: pod nets, then reap",
            held=nets_held and not left and not problems,
            note=f"{landing.where}, ended by {'+'.join(nets) or 'no pod made'}",
        )
        problems += left
    assert nets_held, f"pods outlived their nets: {sim.live_pods()}"
    assert set(ended_by) <= {"api", "terminateAfter"}, ended_by
    assert not problems, "; ".join(problems) + "\n" + reaped.describe()

"""What someone who pays for the pods worries about: a pod preempted in the middle of a
start, a runner that never comes online, a ladder that runs dry half-way through a
fleet, GitHub down while the stop job runs, RunPod down while the post step runs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from runpod_ssh_action.sim import Fault, StandIn

from ..e2e import actionrun as action
from ..e2e.actionrun import Step
from .support import A6000, KnownDefectError, Tally, leak_problems, run_of, step_problems

# Enough failed answers to outlast every retry: the service is down for the step.
OUTAGE = 60


def _pods_of(sim: StandIn, env: dict[str, str]) -> list[str]:
    return [p.id for p in sim.all_pods() if p.name.startswith(run_of(env))]


def _check(tally: Tally, what: str, problems: list[str], *steps: Step) -> None:
    tally.add(what, held=not problems)
    assert not problems, "; ".join(problems) + "\n" + "\n".join(s.describe() for s in steps)


def test_a_pod_preempted_while_booting_fails_the_start_and_is_ended(
    sim: StandIn, tally: Tally
) -> None:
    env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user)
    running = action.launch(env)
    assert sim.wait_for(lambda: bool(_pods_of(sim, env)), 60)
    sim.preempt(_pods_of(sim, env)[0])
    main = running.wait()
    after_main = leak_problems(sim, env)
    posted = action.post(main)
    problems = step_problems(main) + step_problems(posted, may_fail=False) + after_main
    if main.returncode != 1:
        problems.append("the start did not fail")
    _check(tally, "operator: pod preempted while booting", problems, main, posted)


@dataclass
class Preempted:
    main: Step
    posted: Step
    after_main: list[str]
    after_post: list[str]


@pytest.fixture(scope="module")
def preempted_in_set_up(sim: StandIn) -> Preempted:
    """A start whose pod is preempted once SSH has let the action in. The short
    start-up timeout bounds how long the start can take to notice."""
    env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user, startup_timeout_minutes="0.5")
    running = action.launch(env)

    def logged_in() -> bool:
        pods = [p for p in sim.all_pods() if p.name.startswith(run_of(env))]
        return bool(pods) and pods[0].first_login_at is not None

    assert sim.wait_for(logged_in, 60)
    sim.preempt(_pods_of(sim, env)[0])
    main = running.wait()
    after_main = leak_problems(sim, env)
    posted = action.post(main)
    return Preempted(main, posted, after_main, leak_problems(sim, env))


def test_a_pod_preempted_during_set_up_fails_the_start_and_is_ended(
    preempted_in_set_up: Preempted, tally: Tally
) -> None:
    case = preempted_in_set_up
    problems = step_problems(case.main) + case.after_main
    problems += step_problems(case.posted, may_fail=False) + case.after_post
    if case.main.returncode != 1:
        problems.append("the start did not fail")
    _check(tally, "operator: pod preempted during set-up", problems, case.main, case.posted)


def test_a_pod_preempted_during_set_up_is_reported_as_lost(
    preempted_in_set_up: Preempted,
) -> None:
    error = "".join(preempted_in_set_up.main.errors)
    if "log in" in error:
        raise KnownDefectError(error)
    assert "ended while" in error or "preempted" in error, error


def test_a_runner_that_never_comes_online_fails_the_start_and_leaves_nothing(
    sim: StandIn, tally: Tally
) -> None:
    sim.github.set_runner_never_online(True)
    try:
        env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user, startup_timeout_minutes="0.3")
        main = action.run(env)
    finally:
        sim.github.set_runner_never_online(False)
    after_main = leak_problems(sim, env)
    posted = action.post(main)
    problems = step_problems(main) + after_main + step_problems(posted, may_fail=False)
    if main.returncode != 1 or "online" not in "".join(main.errors):
        problems.append("the start did not fail saying the runner never came online")
    _check(tally, "operator: runner never online", problems, main, posted)


def test_a_ladder_that_runs_dry_half_way_ends_the_pods_already_rented(
    sim: StandIn, tally: Tally
) -> None:
    sim.set_capacity(A6000, "SECURE", spot=False, free=2)
    try:
        env = sim.action_env(
            gpu_types=A6000,
            cloud_type="SECURE",
            capacity="on-demand",
            count=3,
            runner=False,
            ssh_user=sim.ssh_user,
        )
        main = action.run(env)
    finally:
        sim.set_capacity(A6000, "SECURE", spot=False, free=8)
    after_main = leak_problems(sim, env, requested=3)
    posted = action.post(main)
    problems = step_problems(main) + after_main + step_problems(posted, may_fail=False)
    if main.returncode != 1 or len(_pods_of(sim, env)) != 2:
        problems.append("expected a failed start after renting exactly two pods")
    _check(tally, "operator: capacity runs out for pod 3 of 3", problems, main, posted)


def test_github_down_during_stop_still_terminates_the_pods(sim: StandIn, tally: Tally) -> None:
    env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user)
    main = action.run(env)
    assert main.returncode == 0, main.describe()
    sim.faults.add("apps/get-repo-installation", *[Fault.status(503)] * OUTAGE)
    try:
        stopped = action.run(sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"]))
    finally:
        sim.faults.clear()
    live = [p.id for p in sim.live_pods() if p.name.startswith(run_of(env))]
    problems = step_problems(stopped)
    if live:
        problems.append(f"pods left running while GitHub was down: {live}")
    if stopped.returncode != 1 or "runners were not deleted" not in "".join(stopped.errors):
        problems.append("the stop did not fail saying the runners were not deleted")
    # GitHub is back: a second stop (or reap) removes the runners.
    again = action.run(sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"]))
    problems += step_problems(again, may_fail=False) + leak_problems(sim, env)
    _check(tally, "operator: GitHub down during stop", problems, stopped, again)


def test_runpod_down_during_post_is_reported_and_a_later_stop_ends_the_pod(
    sim: StandIn, tally: Tally
) -> None:
    env = sim.action_env(gpu_types=A6000, runner=False, ssh_user=sim.ssh_user)
    main = action.run(env)
    assert main.returncode == 0, main.describe()
    pod_id = main.outputs["pod-id"]
    sim.faults.add("podTerminate", *[Fault.status(503)] * OUTAGE)
    try:
        posted = action.post(main)
    finally:
        sim.faults.clear()
    problems = step_problems(posted)
    if posted.returncode != 1 or pod_id not in "".join(posted.errors):
        problems.append("the post step did not fail naming the pod it could not end")
    stopped = action.run(sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"]))
    problems += step_problems(stopped, may_fail=False) + leak_problems(sim, env)
    _check(tally, "operator: RunPod down during post, stop later", problems, posted, stopped)


def test_no_spot_and_no_on_demand_costs_nothing(sim: StandIn, tally: Tally) -> None:
    sim.withdraw_spot()
    sim.set_capacity(A6000, spot=False, free=0)
    try:
        env = sim.action_env(gpu_types=A6000, runner=False, ssh_user=sim.ssh_user)
        main = action.run(env)
    finally:
        sim.withdraw_spot(False)
        sim.set_capacity(A6000, spot=False, free=8)
    posted = action.post(main)
    problems = step_problems(main) + step_problems(posted, may_fail=False)
    problems += leak_problems(sim, env)
    if main.returncode != 1 or _pods_of(sim, env):
        problems.append("expected a failed start with no pod made")
    _check(tally, "operator: no capacity anywhere", problems, main, posted)

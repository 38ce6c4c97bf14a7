"""GitHub's answers that the happy path never meets, end to end against the stand-in.

A runner that is running a job cannot be deleted: GitHub answers 422 "Bad request -
Runner "<name>" is still running a job" (quoted from GitHub in actions/actions-runner-
controller, controllers/actions.summerwind.net/runner_graceful_stop.go). Ending things
must go on around it: it goes offline with its pod, and reap deletes offline runners.
"""

from __future__ import annotations

import pytest

from runpod_ssh_action.sim import StandIn, github_runners

from . import actionrun

A6000 = "NVIDIA RTX A6000"


def live(sim: StandIn) -> list[str]:
    return [p.id for p in sim.live_pods()]


def assert_named_once(step: actionrun.Step, runner_name: str) -> None:
    """One warning names the busy runner, says why and what ends it, and gives no
    advice meant for a request that was wrong."""
    # The pod of the same name has its own "terminated" line; only annotations count.
    lines = [line for line in step.lines if runner_name in line and line.startswith("::")]
    assert len(lines) == 1, step.stdout
    assert lines[0].startswith("::warning"), lines[0]
    assert "still running a job" in lines[0] and "mode: reap" in lines[0], lines[0]
    assert "Change the setting" not in lines[0], lines[0]
    assert not step.errors, step.stdout


@pytest.fixture
def slow_to_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    # GitHub takes minutes to notice a runner whose machine is gone; the stand-in's
    # five seconds could pass on a loaded machine between the terminate and the delete.
    monkeypatch.setattr(github_runners, "OFFLINE_AFTER", 600.0)


@pytest.mark.usefixtures("slow_to_notice")
def test_stop_with_pod_ids_goes_on_past_a_busy_runner(sim: StandIn) -> None:
    started = actionrun.run(sim.action_env(count=2, gpu_types=A6000, ssh_user=sim.ssh_user))
    assert started.returncode == 0, started.stdout + started.stderr
    job = sim.github.dispatch_job(started.outputs["runner-label"], "sleep 300")
    assert sim.github.wait_until(lambda: sim.github.job(job)["status"] == "in_progress", 60)
    busy = next(r for r in sim.github.runners() if r["busy"])
    issued_before = len(sim.github.issued_tokens)

    stopped = actionrun.run(sim.action_env(mode="stop", pod_id=started.outputs["pod-id"]))

    assert stopped.returncode == 0, stopped.stdout
    assert live(sim) == []
    # The idle runner is deleted; the busy one is left to go offline with its pod.
    assert [r["name"] for r in sim.github.runners()] == [busy["name"]]
    assert len(sim.github.issued_tokens) > issued_before
    assert set(sim.github.issued_tokens) <= sim.github.revoked_tokens
    assert_named_once(stopped, busy["name"])


@pytest.mark.usefixtures("slow_to_notice")
def test_post_and_reap_go_on_past_a_busy_runner(sim: StandIn) -> None:
    # A start that failed after its runner took a job (here: the output step never
    # ran, so the state says "started") leaves the post step a busy runner to end.
    started = actionrun.run(sim.action_env(count=2, gpu_types=A6000, ssh_user=sim.ssh_user))
    assert started.returncode == 0, started.stdout + started.stderr
    job = sim.github.dispatch_job(started.outputs["runner-label"], "sleep 300")
    assert sim.github.wait_until(lambda: sim.github.job(job)["status"] == "in_progress", 60)
    busy = next(r for r in sim.github.runners() if r["busy"])
    state = started.state | {"outcome": "failed"}

    posted = actionrun.run(actionrun.post_env(started.env, state), "post")

    assert posted.returncode == 0, posted.stdout
    assert live(sim) == []
    assert [r["name"] for r in sim.github.runners()] == [busy["name"]]
    assert_named_once(posted, busy["name"])
    assert set(sim.github.issued_tokens) <= sim.github.revoked_tokens

    # reap deletes a runner whose run has completed, whatever GitHub shows.
    sim.github.add_workflow_run(int(started.env["GITHUB_RUN_ID"]), "completed", "failure")
    reaped = actionrun.run(sim.action_env(mode="reap"))
    assert reaped.returncode == 0, reaped.stdout
    assert_named_once(reaped, busy["name"])
    assert set(sim.github.issued_tokens) <= sim.github.revoked_tokens

"""The pod's own safety nets, which hold when the action is gone: the watchdog ends the
pod when its one job is done, when no job comes, and when its lifetime is over
(RunPod's ``terminateAfter`` too), always with the pod's own key, never the account's.
"""

from __future__ import annotations

from runpod_ssh_action.sim import StandIn

from ..e2e import actionrun as action
from .support import A6000, Tally


def _ended(sim: StandIn, pod_id: str) -> bool:
    return sim.pod(pod_id).status == "TERMINATED"


def _terminate_principals(sim: StandIn, pod_id: str) -> set[str | None]:
    """Who asked RunPod to terminate the pod. The pod ends while its request is being
    answered, a moment before the request is recorded, so this waits for the record."""

    def principals() -> set[str | None]:
        return {
            r.principal
            for r in sim.requests(api="runpod", operation="podTerminate")
            if pod_id in r.pod_ids
        }

    sim.wait_for(lambda: bool(principals()), 10)
    return principals()


def _start(sim: StandIn, **inputs: str | bool) -> dict[str, str]:
    step = action.run(sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user, **inputs))
    assert step.returncode == 0, step.describe()
    return step.outputs


def test_the_pod_ends_itself_once_its_job_is_done(sim: StandIn, tally: Tally) -> None:
    outputs = _start(sim, idle_timeout_minutes="30")
    pod_id = outputs["pod-id"]
    job = sim.github.dispatch_job(outputs["runner-label"], "echo done")
    assert sim.github.wait_until(lambda: sim.github.job(job)["status"] == "completed", 60)
    ended = sim.wait_for(lambda: _ended(sim, pod_id), 60)
    principals = _terminate_principals(sim, pod_id)
    held = ended and principals == {f"pod:{pod_id}"}
    tally.add("pod-side net: job done -> pod ends itself", held=held, note=str(principals))
    assert ended, sim.pod(pod_id).events
    assert principals == {f"pod:{pod_id}"}


def test_the_pod_ends_itself_when_no_job_comes(sim: StandIn, tally: Tally) -> None:
    pod_id = _start(sim, idle_timeout_minutes="0.05")["pod-id"]
    ended = sim.wait_for(lambda: _ended(sim, pod_id), 60)
    principals = _terminate_principals(sim, pod_id)
    held = ended and principals == {f"pod:{pod_id}"}
    tally.add("pod-side net: idle -> pod ends itself", held=held, note=str(principals))
    assert ended, sim.pod(pod_id).events
    assert principals == {f"pod:{pod_id}"}


def test_the_pod_is_gone_when_its_lifetime_is_over(sim: StandIn, tally: Tally) -> None:
    pod_id = _start(
        sim,
        runner=False,
        startup_timeout_minutes="0.2",
        max_lifetime_minutes="0.3",
        idle_timeout_minutes="0.1",
    )["pod-id"]
    ended = sim.wait_for(lambda: _ended(sim, pod_id), 60)
    pod = sim.pod(pod_id)
    # Either net may win: the watchdog (with the pod's key) or RunPod's own deadline.
    by_whom = pod.ended_by
    principals = _terminate_principals(sim, pod_id)
    held = ended and by_whom in ("api", "terminateAfter") and "account" not in principals
    tally.add("pod-side net: lifetime over -> pod gone", held=held, note=f"ended by {by_whom}")
    assert ended, pod.events
    assert by_whom in ("api", "terminateAfter")
    assert principals <= {f"pod:{pod_id}"}

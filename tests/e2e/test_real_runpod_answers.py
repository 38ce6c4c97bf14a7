"""Answers the real RunPod API gives that an idealised one would not, end to end.

Spot is being removed from RunPod's API (RunPod, April 2026), after which asking for it
fails validation; ``terminateAfter`` may not exist on the spot input (runpodctl sends it
on the on-demand input only, internal/api/graphql.go); and "no capacity" can come as a
null pod without errors, or with ``extensions.code: SUPPLY_CONSTRAINT``.
"""

from __future__ import annotations

from runpod_ssh_action.sim import StandIn

from . import actionrun
from .actionrun import Step

A6000 = "NVIDIA RTX A6000"


def live(sim: StandIn) -> list[str]:
    return [p.id for p in sim.live_pods()]


def warnings(step: Step) -> list[str]:
    return [line for line in step.lines if line.startswith("::warning")]


def start(sim: StandIn, **inputs: str | bool) -> Step:
    return actionrun.run(sim.action_env(runner=False, ssh_user=sim.ssh_user, **inputs))


def end(sim: StandIn, main: Step) -> None:
    ended = actionrun.post(main)
    assert ended.returncode == 0, ended.describe()
    assert live(sim) == []


def test_spot_removed_from_the_api_rents_on_demand_with_one_warning(sim: StandIn) -> None:
    sim.remove_spot_from_schema()
    main = start(sim, gpu_types=f"NVIDIA GeForce RTX 4090\n{A6000}")
    assert main.returncode == 0, main.describe()
    (pod_id,) = live(sim)
    pod = sim.pod(pod_id)
    assert not pod.spot and pod.terminate_after is not None
    (warning,) = warnings(main)
    assert "no longer offers spot" in warning
    assert "no longer offers spot" in main.summary
    # Asked once with the spot fields, then never again.
    refused = [r for r in sim.requests(api="runpod") if r.status == 400]
    assert len(refused) == 1 and refused[0].operation == "gpuTypes"
    assert not sim.requests(operation="podRentInterruptable")
    end(sim, main)


def test_spot_removed_without_on_demand_fallback_names_capacity(sim: StandIn) -> None:
    sim.remove_spot_from_schema()
    main = start(sim, gpu_types=A6000, on_demand_fallback=False)
    assert main.returncode == 1, main.describe()
    (error,) = main.errors
    assert "capacity: on-demand" in error and "on-demand-fallback" in error
    assert len([w for w in warnings(main) if "spot" in w]) == 1
    assert sim.all_pods() == []


def test_terminate_after_refused_on_spot_is_sent_again_without_it(sim: StandIn) -> None:
    sim.refuse_spot_terminate_after()
    main = start(sim, gpu_types=A6000)
    assert main.returncode == 0, main.describe()
    (pod_id,) = live(sim)
    pod = sim.pod(pod_id)
    assert pod.spot and pod.terminate_after is None
    assert "terminateAfter" not in pod.create_input
    creates = sim.requests(operation="podRentInterruptable")
    assert [r.status for r in creates] == [400, 200]
    (warning,) = warnings(main)
    assert "no server-side deadline" in warning
    end(sim, main)


def test_a_null_spot_create_is_no_capacity_and_the_next_rung_rents(sim: StandIn) -> None:
    sim.set_capacity(None, spot=True, free=0)
    sim.set_no_capacity_answer("null")
    main = start(sim, gpu_types=A6000)
    assert main.returncode == 0, main.describe()
    (pod_id,) = live(sim)
    assert not sim.pod(pod_id).spot
    # One spot create, then on-demand: no retries of the "failed" create, no hunt for it.
    roots = [r.operation for r in sim.requests(api="runpod")]
    assert roots.count("podRentInterruptable") == 1
    assert roots.index("podFindAndDeployOnDemand") == roots.index("podRentInterruptable") + 1
    end(sim, main)


def test_a_supply_constraint_is_no_capacity_and_the_next_rung_rents(sim: StandIn) -> None:
    sim.set_capacity(None, spot=True, free=0)
    sim.set_no_capacity_answer("supply_constraint")
    main = start(sim, gpu_types=A6000)
    assert main.returncode == 0, main.describe()
    (pod_id,) = live(sim)
    assert not sim.pod(pod_id).spot
    assert len(sim.requests(operation="podRentInterruptable")) == 1
    end(sim, main)

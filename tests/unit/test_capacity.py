"""The capacity ladder: order, skips and the price cap, before and after renting."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from runpod_ssh_action.capacity import Attempt, Rung, Wants, plan, rent
from runpod_ssh_action.errors import ActionError, InputError
from runpod_ssh_action.runpod import GpuType, Pod, PodSpec
from runpod_ssh_action.runpod.errors import NoCapacityError

A4090 = GpuType("NVIDIA GeForce RTX 4090", minimum_bid_price=0.3, uninterruptable_price=0.7)
A6000 = GpuType("NVIDIA RTX A6000", minimum_bid_price=0.25, uninterruptable_price=0.5)
H100 = GpuType("NVIDIA H100 80GB HBM3", minimum_bid_price=None, uninterruptable_price=2.9)


def wants(**overrides: object) -> Wants:
    values: dict[str, object] = {
        "gpu_types": [A4090.id, A6000.id],
        "gpu_count": 1,
        "cloud_type": "ALL",
        "spot": True,
        "on_demand_fallback": True,
        "bid_per_gpu": None,
        "max_price_per_hour": None,
    }
    values.update(overrides)
    return Wants(**values)  # type: ignore[arg-type]


def test_spot_rungs_come_first_in_the_users_order_then_on_demand() -> None:
    rungs, skipped = plan(wants(), [A6000, A4090])
    assert [(r.gpu_type, r.capacity) for r in rungs] == [
        (A4090.id, "spot"),
        (A6000.id, "spot"),
        (A4090.id, "on-demand"),
        (A6000.id, "on-demand"),
    ]
    assert rungs[0].bid_per_gpu == 0.3
    assert skipped == []


def test_price_is_per_pod_and_the_cap_skips_expensive_rungs() -> None:
    rungs, skipped = plan(wants(gpu_count=2, max_price_per_hour=0.9), [A4090, A6000])
    assert [(r.gpu_type, r.capacity, r.price_per_hour) for r in rungs] == [
        (A4090.id, "spot", 0.6),
        (A6000.id, "spot", 0.5),
    ]
    assert {(a.gpu_type, a.capacity) for a in skipped} == {
        (A4090.id, "on-demand"),
        (A6000.id, "on-demand"),
    }
    assert all("max-price-per-hour" in a.outcome for a in skipped)


def test_a_bid_below_the_minimum_skips_the_spot_rung() -> None:
    rungs, skipped = plan(wants(bid_per_gpu=0.28, on_demand_fallback=False), [A4090, A6000])
    assert [(r.gpu_type, r.bid_per_gpu) for r in rungs] == [(A6000.id, 0.28)]
    assert "below the minimum" in skipped[0].outcome


def test_no_spot_offer_and_no_fallback_is_one_clear_error() -> None:
    with pytest.raises(ActionError) as caught:
        plan(wants(gpu_types=[H100.id], on_demand_fallback=False), [H100])
    assert caught.value.code == "NO_OFFER"
    assert "no spot offer" in caught.value.sentence()


def test_on_demand_only_never_tries_spot() -> None:
    rungs, _ = plan(wants(spot=False), [A4090, A6000])
    assert all(not r.spot for r in rungs)


def test_unknown_gpu_types_are_an_input_error_when_none_is_known() -> None:
    with pytest.raises(InputError) as caught:
        plan(wants(gpu_types=["RTX 9999"]), [A4090])
    assert caught.value.input_name == "gpu-types"


def test_one_unknown_gpu_type_among_known_ones_is_skipped() -> None:
    rungs, skipped = plan(wants(gpu_types=["RTX 9999", A4090.id]), [A4090])
    assert [r.gpu_type for r in rungs] == [A4090.id, A4090.id]
    assert {a.outcome for a in skipped} == {"skipped: unknown GPU type"}


@dataclass
class Client:
    """Answers creates from a script: a pod, or an exception, per call."""

    script: list[object]
    created: list[tuple[str, PodSpec]] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    spot_withdrawn: str | None = None

    def _next(self, kind: str, spec: PodSpec) -> Pod:
        self.created.append((kind, spec))
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        assert isinstance(item, Pod)
        return item

    def create_spot(self, spec: PodSpec, bid: float) -> Pod:
        return self._next("spot", spec)

    def create_on_demand(self, spec: PodSpec) -> Pod:
        return self._next("on-demand", spec)

    def terminate(self, pod_id: str) -> bool:
        self.terminated.append(pod_id)
        return True


RUNGS = [Rung(A4090.id, True, 0.3, 0.3), Rung(A4090.id, False, None, 0.7)]


def spec_for(rung: Rung) -> PodSpec:
    return PodSpec(name="rpsa-abc123-1-1-0", gpu_type_id=rung.gpu_type)


def test_rent_walks_down_the_ladder_on_no_capacity() -> None:
    client = Client([NoCapacityError("No capacity", "none left"), Pod("p1", cost_per_hr=0.7)])
    attempts: list[Attempt] = []
    pod, rung = rent(
        client,  # type: ignore[arg-type]
        spec_for,
        RUNGS,
        0,
        max_price_per_hour=None,
        record=attempts.append,
        adopt=lambda pod: True,
    )
    assert (pod.id, rung.capacity) == ("p1", "on-demand")
    assert [kind for kind, _ in client.created] == ["spot", "on-demand"]
    assert [a.outcome for a in attempts] == ["none left", "rented p1"]


def test_a_pod_dearer_than_the_cap_is_terminated_at_once() -> None:
    client = Client([Pod("dear", cost_per_hr=5.0), Pod("fine", cost_per_hr=0.6)])
    pod, _ = rent(
        client,  # type: ignore[arg-type]
        spec_for,
        RUNGS,
        0,
        max_price_per_hour=1.0,
        record=lambda a: None,
        adopt=lambda pod: True,
    )
    assert pod.id == "fine"
    assert client.terminated == ["dear"]


def test_a_pod_created_after_teardown_began_is_ended_by_the_renter() -> None:
    client = Client([Pod("late", cost_per_hr=0.3)])
    with pytest.raises(ActionError):
        rent(
            client,  # type: ignore[arg-type]
            spec_for,
            RUNGS,
            0,
            max_price_per_hour=None,
            record=lambda a: None,
            adopt=lambda pod: False,
        )
    assert client.terminated == ["late"]


def test_an_exhausted_ladder_names_every_reason() -> None:
    client = Client([NoCapacityError("x", "spot gone"), NoCapacityError("x", "no GPUs")])
    with pytest.raises(ActionError) as caught:
        rent(
            client,  # type: ignore[arg-type]
            spec_for,
            RUNGS,
            2,
            max_price_per_hour=None,
            record=lambda a: None,
            adopt=lambda pod: True,
        )
    assert "spot gone" in caught.value.why and "no GPUs" in caught.value.why

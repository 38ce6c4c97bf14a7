"""The capacity ladder: which GPU type, spot or on-demand, at what price.

Each GPU type is tried in the user's order as spot (at their bid, or the current
minimum bid), then, if allowed, each as on-demand. A rung that would break
``max-price-per-hour`` is skipped before anything is rented, and a pod that comes back
dearer than the cap is terminated at once: the estimate is not trusted with money.
Once RunPod has shown it no longer has spot at all, the spot rungs are passed over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ActionError, InputError
from .runpod import GpuType, Pod, PodSpec, RunPodClient
from .runpod.errors import BidTooLowError, NoCapacityError

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class Rung:
    gpu_type: str
    spot: bool
    bid_per_gpu: float | None
    price_per_hour: float | None

    @property
    def capacity(self) -> str:
        return "spot" if self.spot else "on-demand"


@dataclass(frozen=True)
class Attempt:
    index: int | None  # None: skipped while planning, for every pod
    gpu_type: str
    capacity: str
    price_per_hour: float | None
    outcome: str


@dataclass(frozen=True)
class Wants:
    gpu_types: Sequence[str]
    gpu_count: int
    cloud_type: str
    spot: bool
    on_demand_fallback: bool
    bid_per_gpu: float | None
    max_price_per_hour: float | None
    # Why RunPod has no spot at all (its schema refused the spot fields), if so.
    spot_withdrawn: str | None = None

    @classmethod
    def of(cls, settings: Settings, gpu_types: Sequence[str], spot_withdrawn: str | None) -> Wants:
        return cls(
            gpu_types=gpu_types,
            gpu_count=settings.gpu_count,
            cloud_type=settings.cloud_type,
            spot=settings.capacity == "spot",
            on_demand_fallback=settings.on_demand_fallback,
            bid_per_gpu=settings.bid_per_gpu,
            max_price_per_hour=settings.max_price_per_hour,
            spot_withdrawn=spot_withdrawn,
        )


def spot_withdrawn_error(reason: str) -> ActionError:
    return ActionError(
        "No spot capacity: RunPod no longer offers spot",
        reason,
        "Set capacity: on-demand, or on-demand-fallback: true",
        code="SPOT_WITHDRAWN",
    )


def plan(wants: Wants, offers: Sequence[GpuType]) -> tuple[list[Rung], list[Attempt]]:
    """The rungs worth trying, and the ones skipped with the reason."""
    by_id = {offer.id: offer for offer in offers}
    unknown = [gpu for gpu in wants.gpu_types if gpu not in by_id]
    if len(unknown) == len(wants.gpu_types):
        raise InputError(
            "gpu-types",
            f"RunPod knows none of {', '.join(repr(g) for g in unknown)}",
            "Use RunPod GPU type ids such as 'NVIDIA GeForce RTX 4090' "
            "(`runpod-ssh-action gpus` lists them)",
        )
    if wants.spot and wants.spot_withdrawn and not wants.on_demand_fallback:
        raise spot_withdrawn_error(wants.spot_withdrawn)
    rungs: list[Rung] = []
    skipped: list[Attempt] = []

    def consider(gpu: str, spot: bool) -> None:
        offer = by_id.get(gpu)
        capacity = "spot" if spot else "on-demand"
        if offer is None:
            skipped.append(Attempt(None, gpu, capacity, None, "skipped: unknown GPU type"))
            return
        bid: float | None = None
        if spot:
            minimum = _spot_minimum(offer, wants.cloud_type)
            if not minimum:
                skipped.append(Attempt(None, gpu, capacity, None, "skipped: no spot offer"))
                return
            bid = wants.bid_per_gpu or minimum
            if bid < minimum:
                skipped.append(
                    Attempt(
                        None,
                        gpu,
                        capacity,
                        bid * wants.gpu_count,
                        f"skipped: bid {bid:.3f} is below the minimum {minimum:.3f}",
                    )
                )
                return
            per_gpu = bid
        else:
            on_demand = _on_demand_price(offer, wants.cloud_type)
            if not on_demand:
                skipped.append(Attempt(None, gpu, capacity, None, "skipped: no on-demand offer"))
                return
            per_gpu = on_demand
        price = round(per_gpu * wants.gpu_count, 4)
        cap = wants.max_price_per_hour
        if cap is not None and price > cap:
            skipped.append(
                Attempt(None, gpu, capacity, price, f"skipped: over max-price-per-hour {cap:g}")
            )
            return
        rungs.append(Rung(gpu, spot, bid, price))

    if wants.spot and not wants.spot_withdrawn:
        for gpu in wants.gpu_types:
            consider(gpu, spot=True)
    if not wants.spot or wants.on_demand_fallback:
        for gpu in wants.gpu_types:
            consider(gpu, spot=False)
    if not rungs:
        raise ActionError(
            "No GPU offer fits the request",
            "; ".join(f"{a.gpu_type} {a.capacity} {a.outcome}" for a in skipped),
            "Add GPU types to gpu-types, raise max-price-per-hour or bid-per-gpu, "
            "or allow on-demand-fallback",
            code="NO_OFFER",
        )
    return rungs, skipped


def rent(
    client: RunPodClient,
    spec_for: Callable[[Rung], PodSpec],
    rungs: Sequence[Rung],
    index: int,
    *,
    max_price_per_hour: float | None,
    record: Callable[[Attempt], None],
    adopt: Callable[[Pod], bool],
) -> tuple[Pod, Rung]:
    """Walk the ladder for one pod until a rung rents it.

    ``adopt`` records the pod the moment it exists and says whether to keep it
    (false once teardown has begun); a pod not kept, or dearer than the cap, is
    terminated before this returns.
    """
    reasons: list[str] = []
    for rung in rungs:
        if rung.spot and client.spot_withdrawn is not None:
            continue
        try:
            if rung.spot:
                assert rung.bid_per_gpu is not None
                pod = client.create_spot(spec_for(rung), rung.bid_per_gpu)
            else:
                pod = client.create_on_demand(spec_for(rung))
        except (NoCapacityError, BidTooLowError) as exc:
            record(Attempt(index, rung.gpu_type, rung.capacity, rung.price_per_hour, exc.why))
            reasons.append(f"{rung.gpu_type} {rung.capacity}: {exc.why}")
            continue
        keep = adopt(pod)
        cost = pod.cost_per_hr
        if (
            keep
            and max_price_per_hour is not None
            and cost is not None
            and cost > max_price_per_hour
        ):
            client.terminate(pod.id)
            record(Attempt(index, rung.gpu_type, rung.capacity, cost, "terminated: over the cap"))
            reasons.append(f"{rung.gpu_type} {rung.capacity}: cost {cost:g} over the cap")
            continue
        if not keep:
            client.terminate(pod.id)
            raise ActionError("Renting stopped", "the step is being torn down", code="CANCELLED")
        record(Attempt(index, rung.gpu_type, rung.capacity, cost, f"rented {pod.id}"))
        return pod, rung
    if client.spot_withdrawn is not None and all(r.spot for r in rungs):
        raise spot_withdrawn_error(client.spot_withdrawn)
    raise ActionError(
        f"No capacity for pod {index}",
        "; ".join(reasons) or "every rung was refused",
        "Add GPU types to gpu-types, use cloud-type ALL, or allow on-demand-fallback",
        code="NO_CAPACITY",
    )


def _spot_minimum(offer: GpuType, cloud_type: str) -> float | None:
    specific = {"SECURE": offer.secure_spot_price, "COMMUNITY": offer.community_spot_price}
    return specific.get(cloud_type) or offer.minimum_bid_price


def _on_demand_price(offer: GpuType, cloud_type: str) -> float | None:
    specific = {"SECURE": offer.secure_price, "COMMUNITY": offer.community_price}
    return specific.get(cloud_type) or offer.uninterruptable_price

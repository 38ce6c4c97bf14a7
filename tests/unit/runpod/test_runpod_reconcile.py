"""One create call makes at most one pod, whatever happens to its answer."""

from __future__ import annotations

import io
import json
import random

import pytest
import requests
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runpod_fakes import URL, FakeRunPod, Reply, gql_error

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.errors import NetworkError
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.runpod import PodSpec, RunPodClient
from runpod_ssh_action.runpod.errors import (
    AuthError,
    BidTooLowError,
    CreateUncertainError,
    NoCapacityError,
)
from runpod_ssh_action.transport import ApiLog

SPEC = PodSpec(name="gh-42-1-0", image_name="runpod/base:0.6", gpu_type_id="NVIDIA A40")
RESET = requests.exceptions.ConnectionError("Connection reset by peer")
REFUSED = requests.exceptions.ConnectionError("[Errno 111] Connection refused")
INTERNAL = gql_error(
    "Something went wrong. Please try again later or contact support.", "INTERNAL_SERVER_ERROR"
)

CREATE = "podRentInterruptable"


def test_lost_answer_after_the_pod_was_made_adopts_it(
    client: RunPodClient, server: FakeRunPod, log_stream: io.StringIO
) -> None:
    server.reply(server.create(then=RESET), server.listing())
    pod = client.create_spot(SPEC, 0.3)
    assert list(server.pods) == [pod.id]
    assert pod.name == SPEC.name
    assert server.roots() == [CREATE, "myself"]
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    (reconcile,) = [r for r in records if r["type"] == "reconcile"]
    assert reconcile["action"] == "adopt" and reconcile["found"] == [pod.id]


def test_lost_answer_before_the_pod_was_made_creates_again(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply(RESET, server.listing(), server.create())
    pod = client.create_spot(SPEC, 0.3)
    assert list(server.pods) == [pod.id]
    assert server.roots() == [CREATE, "myself", CREATE]
    assert server.sent[0].variables == server.sent[2].variables


def test_a_timeout_is_reconciled_too(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(server.create(then=requests.exceptions.ReadTimeout("timed out")), server.listing())
    pod = client.create_on_demand(SPEC)
    assert list(server.pods) == [pod.id]


@pytest.mark.parametrize(
    "lost",
    [
        Reply("bad gateway", status=502),
        INTERNAL,
        Reply("<html>not json</html>"),
    ],
)
def test_server_failures_after_acting_adopt(
    client: RunPodClient, server: FakeRunPod, lost: object
) -> None:
    server.reply(server.create(then=lost), server.listing())
    pod = client.create_spot(SPEC, 0.3)
    assert list(server.pods) == [pod.id]
    assert server.roots() == [CREATE, "myself"]


def test_server_failure_without_acting_creates_again(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply(INTERNAL, server.listing(), server.create())
    client.create_spot(SPEC, 0.3)
    assert len(server.pods) == 1
    assert server.roots() == [CREATE, "myself", CREATE]


def test_a_refused_connection_never_reached_runpod(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply(REFUSED, server.create())
    client.create_spot(SPEC, 0.3)
    assert server.roots() == [CREATE, CREATE]
    assert len(server.pods) == 1


def test_the_creates_are_bounded(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(RESET, server.listing(), RESET, server.listing(), RESET, server.listing())
    with pytest.raises(NetworkError):
        client.create_spot(SPEC, 0.3)
    assert server.roots() == [CREATE, "myself"] * 3
    assert server.pods == {}
    assert len(clock.sleeps) == 3


def test_the_last_attempt_is_reconciled_too(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(
        RESET,
        server.listing(),
        RESET,
        server.listing(),
        server.create(then=INTERNAL),
        server.listing(),
    )
    pod = client.create_spot(SPEC, 0.3)
    assert list(server.pods) == [pod.id]


def test_a_failed_listing_stops_with_the_pod_name(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(server.create(then=RESET), *[Reply("down", status=503)] * 5)
    with pytest.raises(CreateUncertainError) as caught:
        client.create_spot(SPEC, 0.3)
    assert caught.value.pod_name == SPEC.name
    assert SPEC.name in str(caught.value)
    assert server.roots().count(CREATE) == 1


def test_only_the_exact_name_is_adopted(client: RunPodClient, server: FakeRunPod) -> None:
    def listing(body: object) -> object:
        other = {**next(iter(server.pods.values()), {}), "id": "other", "name": SPEC.name + "0"}
        return {"data": {"myself": {"pods": [other]}}}

    server.reply(RESET, listing, server.create())
    pod = client.create_spot(SPEC, 0.3)
    assert pod.id != "other"
    assert server.roots() == [CREATE, "myself", CREATE]


@pytest.mark.parametrize(
    ("refusal", "kind"),
    [
        (
            gql_error(
                "There are no longer any instances available with the requested "
                "specifications. Please refresh and try again."
            ),
            NoCapacityError,
        ),
        (gql_error("Bid price below minimum required", "BID_TOO_LOW"), BidTooLowError),
        (gql_error("Unauthorized"), AuthError),
    ],
)
def test_a_refusal_is_final(
    client: RunPodClient, server: FakeRunPod, refusal: object, kind: type[Exception]
) -> None:
    server.reply(refusal)
    with pytest.raises(kind):
        client.create_spot(SPEC, 0.3)
    assert server.roots() == [CREATE]


def test_a_create_is_never_retried_by_the_transport(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply(Reply("unavailable", status=503), server.listing(), server.create())
    client.create_on_demand(SPEC)
    assert server.roots() == ["podFindAndDeployOnDemand", "myself", "podFindAndDeployOnDemand"]


# Each attempt's fate: whether RunPod made the pod, and what the client then hears.
OUTCOMES = {
    "ok": (True, None),
    "made-then-reset": (True, RESET),
    "reset-before": (False, RESET),
    "refused": (False, REFUSED),
    "made-then-502": (True, Reply("", status=502)),
    "502-before": (False, Reply("", status=502)),
    "made-then-internal": (True, INTERNAL),
    "internal-before": (False, INTERNAL),
    "made-then-garbage": (True, Reply("not json")),
    "no-capacity": (
        False,
        gql_error("There are not enough free GPUs on the host machine to start this pod."),
    ),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(OUTCOMES)), min_size=3, max_size=3))
def test_never_two_pods(fates: list[str]) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        server = FakeRunPod(rsps)
        remaining = iter(fates)

        def create(body: dict[str, object]) -> object:
            made, heard = OUTCOMES[next(remaining)]
            if made:
                return server.create(then=heard)(body)
            return heard

        def answer(body: dict[str, object]) -> object:
            if "myself" in str(body["query"]):
                return server.listing()(body)
            return create(body)

        server.reply(*[answer] * 10)
        masker = Masker()
        client = RunPodClient(
            "rpa_key_for_property",
            url=URL,
            clock=FakeClock(),
            masker=masker,
            log=ApiLog(masker),
            cache_dir=None,
            rng=random.Random(1),
        )
        try:
            pod = client.create_spot(SPEC, 0.3)
        except Exception:
            pod = None
        finally:
            client.close()
    assert len(server.pods) <= 1
    if pod is not None:
        assert list(server.pods) == [pod.id]
    else:
        assert server.pods == {}

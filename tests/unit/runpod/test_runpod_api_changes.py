"""RunPod's schema changing under the client, and its quieter ways of saying "no capacity".

Refusals are written the way RunPod's Apollo server sends them: HTTP 400, graphql-js's
double-quoted names, ``extensions.code: GRAPHQL_VALIDATION_FAILED`` (the shape in e.g.
pypolestar/polestar_api#154; RunPod's own wording of an input field it lacks is in
artokun/comfyui-mcp#2016).
"""

from __future__ import annotations

from typing import Any

import pytest
from runpod_fakes import FULL_SPEC, FakeRunPod, Reply, api_pod, gql_error

from runpod_ssh_action.runpod import RunPodClient
from runpod_ssh_action.runpod.errors import (
    FieldRefusedError,
    InvalidRequestError,
    NoCapacityError,
    SpotWithdrawnError,
)

SPOT = "podRentInterruptable"
ON_DEMAND = "podFindAndDeployOnDemand"


def refused(*messages: str, code: str = "GRAPHQL_VALIDATION_FAILED") -> Reply:
    errors = [{"message": m, "extensions": {"code": code}} for m in messages]
    return Reply({"errors": errors}, status=400)


NO_SPOT_PRICES = refused(
    'Cannot query field "secureSpotPrice" on type "GpuType". Did you mean "securePrice"?',
    'Cannot query field "communitySpotPrice" on type "GpuType".',
    'Cannot query field "minimumBidPrice" on type "LowestPrice".',
)
NO_SPOT_MUTATION = refused(
    'Unknown type "PodRentInterruptableInput".',
    'Cannot query field "podRentInterruptable" on type "Mutation".',
)
NO_TERMINATE_AFTER = refused(
    'Variable "$input" got invalid value { name: "rp-gh-123-1-0", terminateAfter: '
    '"2026-01-01T02:00:00Z" }; Field "terminateAfter" is not defined by type '
    '"PodRentInterruptableInput".',
    code="BAD_USER_INPUT",
)
GPU = {
    "id": "NVIDIA GeForce RTX 4090",
    "securePrice": 0.69,
    "lowestPrice": {"uninterruptablePrice": 0.34, "stockStatus": "High"},
}


def created(body: dict[str, Any]) -> dict[str, Any]:
    root = SPOT if "bidPerGpu" in body["variables"]["input"] else ON_DEMAND
    return {"data": {root: api_pod("pod001", body["variables"]["input"]["name"])}}


def test_spot_price_fields_refused_means_no_spot_and_the_listing_is_asked_again(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply(NO_SPOT_PRICES, {"data": {"gpuTypes": [GPU]}})
    (offer,) = client.gpu_types(1, [GPU["id"]])
    assert offer.uninterruptable_price == 0.34 and not offer.spot_available
    assert server.roots() == ["gpuTypes", "gpuTypes"]
    assert "minimumBidPrice" not in server.sent[1].query
    assert client.spot_withdrawn is not None and "secureSpotPrice" in client.spot_withdrawn
    (notice,) = client.take_notices()
    assert "no longer offers spot" in notice
    assert client.take_notices() == []

    # No spot question for the rest of the run: the listing, and spot creates.
    server.reply({"data": {"gpuTypes": [GPU]}})
    client.gpu_types(1, [GPU["id"]], use_cache=False)
    assert "SpotPrice" not in server.sent[2].query
    with pytest.raises(SpotWithdrawnError):
        client.create_spot(FULL_SPEC, 0.3)
    assert server.roots() == ["gpuTypes"] * 3


def test_the_spot_mutation_refused_is_no_capacity_and_nothing_to_reconcile(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply(NO_SPOT_MUTATION)
    with pytest.raises(SpotWithdrawnError) as caught:
        client.create_spot(FULL_SPEC, 0.3)
    assert isinstance(caught.value, NoCapacityError)
    # A validation failure created nothing: no listing to look for the pod.
    assert server.roots() == [SPOT]
    assert len(client.take_notices()) == 1
    with pytest.raises(SpotWithdrawnError):
        client.create_spot(FULL_SPEC, 0.3)
    assert server.roots() == [SPOT]


def test_terminate_after_refused_on_spot_is_sent_again_without_it_once(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply(NO_TERMINATE_AFTER, created)
    pod = client.create_spot(FULL_SPEC, 0.3)
    assert pod.id == "pod001"
    assert server.roots() == [SPOT, SPOT]
    assert "terminateAfter" in server.sent[0].variables["input"]
    assert "terminateAfter" not in server.sent[1].variables["input"]
    (notice,) = client.take_notices()
    assert "no server-side deadline" in notice

    # Spot creates of the rest of the run leave it out; on-demand keeps it.
    server.reply(created, created)
    client.create_spot(FULL_SPEC, 0.3)
    client.create_on_demand(FULL_SPEC)
    assert "terminateAfter" not in server.sent[2].variables["input"]
    assert "terminateAfter" in server.sent[3].variables["input"]
    assert client.take_notices() == []


def test_other_refused_fields_stay_request_errors(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(refused('Cannot query field "gpuCount" on type "Pod".'))
    with pytest.raises(FieldRefusedError) as caught:
        client.create_on_demand(FULL_SPEC)
    assert isinstance(caught.value, InvalidRequestError) and caught.value.fields == {"gpuCount"}
    assert client.spot_withdrawn is None and client.take_notices() == []


@pytest.mark.parametrize("root", [SPOT, ON_DEMAND])
def test_a_null_create_without_errors_is_no_capacity(
    client: RunPodClient, server: FakeRunPod, root: str
) -> None:
    server.reply({"data": {root: None}})
    with pytest.raises(NoCapacityError):
        if root == SPOT:
            client.create_spot(FULL_SPEC, 0.3)
        else:
            client.create_on_demand(FULL_SPEC)
    assert server.roots() == [root]


def test_supply_constraint_is_no_capacity(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(gql_error("The requested GPUs cannot be supplied.", "SUPPLY_CONSTRAINT"))
    with pytest.raises(NoCapacityError):
        client.create_on_demand(FULL_SPEC)
    assert server.roots() == [ON_DEMAND]

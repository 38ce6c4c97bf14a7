"""The stand-in's RunPod GraphQL API, over real HTTPS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
from standin_client import GPU, GraphQL

from runpod_ssh_action.sim import StandIn

NO_INSTANCES = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
NO_SPOT = (
    "There are no instances available with the request specifications. Please try again later."
)
H100 = "NVIDIA H100 80GB HBM3"


def test_a_misspelt_input_field_is_rejected_by_schema_validation(
    gql: GraphQL, sim: StandIn
) -> None:
    response = gql.post(
        'mutation { podFindAndDeployOnDemand(input: {gpuTypeId: "x", startSSH: true}) { id } }'
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert "startSSH" in error["message"] and "startSsh" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert not sim.all_pods()


def test_unknown_selection_and_syntax_errors_are_400(gql: GraphQL) -> None:
    unknown = gql.post("{ myself { id creditBalance } }")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    broken = gql.post("{ myself { id }")
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


def test_dates_must_be_iso_8601_and_variables_must_fit_their_types(
    gql: GraphQL, sim: StandIn
) -> None:
    literal = gql.post(
        'mutation { podFindAndDeployOnDemand(input: {gpuTypeId: "x", terminateAfter: "soon"}) '
        "{ id } }"
    )
    assert literal.status_code == 400
    assert "DateTime" in literal.json()["errors"][0]["message"]
    for bad in ({"terminateAfter": "soon"}, {"gpuCount": "two"}):
        response = gql.call("podFindAndDeployOnDemand", {"gpuTypeId": GPU, **bad})
        assert response.status_code == 400, bad
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert not sim.all_pods()


@pytest.mark.parametrize("key", ["", "rpa_WRONGKEY0000000000000000000000000000000000"])
def test_a_wrong_or_missing_key_is_http_401_plain_text(gql: GraphQL, key: str) -> None:
    response = gql.post("{ myself { id } }", key=key)
    assert response.status_code == 401
    assert response.text == "Unauthorized"


def test_the_key_may_come_as_the_api_key_query_parameter(sim: StandIn) -> None:
    response = requests.post(
        sim.runpod_url,
        params={"api_key": sim.runpod_api_key},
        json={"query": "{ myself { id } }"},
        verify=sim.ca_bundle,
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["data"]["myself"]["id"]
    (record,) = sim.requests(operation="myself")
    assert record.principal == "account"


def test_create_answers_like_runpod_and_records_the_input(gql: GraphQL, sim: StandIn) -> None:
    pod = gql.create("ssh-ed25519 AAAA test", name="rpa-run-1", gpuCount=2)
    assert len(pod["id"]) == 14 and pod["id"].isalnum() and pod["id"] == pod["id"].lower()
    assert pod["desiredStatus"] == "RUNNING"
    assert pod["runtime"] is None  # not booted yet: RUNNING is no readiness signal
    assert pod["podType"] == "RESERVED"
    assert pod["costPerHr"] == pytest.approx(2 * 0.49)
    assert pod["machine"]["podHostId"].startswith(pod["id"])
    info = sim.pod(pod["id"])
    assert info.create_operation == "podFindAndDeployOnDemand"
    assert info.create_input["env"] == [{"key": "PUBLIC_KEY", "value": "ssh-ed25519 AAAA test"}]
    assert info.env == {"PUBLIC_KEY": "ssh-ed25519 AAAA test"}
    (record,) = sim.requests(operation="podFindAndDeployOnDemand")
    assert record.pod_ids == (pod["id"],) and record.status == 200 and record.acted
    listed = gql.data("{ myself { pods { id env desiredStatus } } }")["myself"]["pods"]
    assert listed == [
        {"id": pod["id"], "env": ["PUBLIC_KEY=ssh-ed25519 AAAA test"], "desiredStatus": "RUNNING"}
    ]


def test_terminated_pods_disappear_and_a_second_terminate_is_not_found(
    gql: GraphQL, sim: StandIn
) -> None:
    pod_id = gql.create()["id"]
    first = gql.terminate(pod_id)
    assert first.status_code == 200 and first.json() == {"data": {"podTerminate": None}}
    assert gql.pod(pod_id) is None
    assert gql.data("{ myself { pods { id } } }")["myself"]["pods"] == []
    error = gql.call_error("podTerminate", {"podId": pod_id}, "")
    assert error["message"] == "pod not found to terminate"
    info = sim.pod(pod_id)
    assert info.status == "TERMINATED" and info.ended_by == "api"
    assert sim.live_pods() == []


def test_capacity_runs_out_and_comes_back_on_terminate(gql: GraphQL, sim: StandIn) -> None:
    sim.set_capacity(GPU, free=0)
    sim.set_capacity(GPU, cloud="SECURE", spot=False, free=1)  # counts are per pool
    first = gql.create()["id"]
    error = gql.call_error("podFindAndDeployOnDemand", {"gpuTypeId": GPU, "gpuCount": 1})
    assert error["message"] == NO_INSTANCES
    assert gql.terminate(first).status_code == 200
    assert gql.create()["id"] != first


def test_cloud_type_all_falls_back_to_community(gql: GraphQL, sim: StandIn) -> None:
    sim.set_capacity(GPU, cloud="SECURE", free=0)
    pod = gql.create(gpuCount=2)
    assert sim.pod(pod["id"]).cloud == "COMMUNITY"
    assert pod["costPerHr"] == pytest.approx(2 * 0.33)
    error = gql.call_error("podFindAndDeployOnDemand", {"gpuTypeId": GPU, "cloudType": "SECURE"})
    assert error["message"] == NO_INSTANCES
    assert sim.cloud.free_gpus(GPU, "COMMUNITY", False) == 8 - 2


def test_spot_pods_cost_the_bid_and_refuse_a_low_one(gql: GraphQL, sim: StandIn) -> None:
    pod = gql.create(spot=True, gpuCount=2, bidPerGpu=0.31)
    assert pod["podType"] == "INTERRUPTABLE"
    assert pod["costPerHr"] == pytest.approx(0.62)
    assert sim.pod(pod["id"]).create_operation == "podRentInterruptable"
    error = gql.call_error(
        "podRentInterruptable", {"gpuTypeId": GPU, "gpuCount": 1, "bidPerGpu": 0.01}
    )
    assert error["extensions"]["code"] == "BID_TOO_LOW"
    assert error["extensions"]["minimumBid"] == pytest.approx(0.19)


def test_withdrawn_spot_finds_no_instances_and_shows_no_bid_price(
    gql: GraphQL, sim: StandIn
) -> None:
    sim.withdraw_spot()
    error = gql.call_error(
        "podRentInterruptable", {"gpuTypeId": GPU, "gpuCount": 1, "bidPerGpu": 9}
    )
    assert error["message"] == NO_SPOT
    (prices,) = gql.data(
        "query G($id: String) { gpuTypes(input: {id: $id}) { secureSpotPrice "
        "lowestPrice(input: {gpuCount: 1}) { minimumBidPrice uninterruptablePrice } } }",
        {"id": GPU},
    )["gpuTypes"]
    assert prices["secureSpotPrice"] is None
    assert prices["lowestPrice"] == {"minimumBidPrice": None, "uninterruptablePrice": 0.33}
    assert gql.create()["podType"] == "RESERVED"


def test_no_spot_capacity_uses_the_spot_message(gql: GraphQL, sim: StandIn) -> None:
    sim.set_capacity(GPU, spot=True, free=0)
    error = gql.call_error(
        "podRentInterruptable", {"gpuTypeId": GPU, "gpuCount": 1, "bidPerGpu": 9}
    )
    assert error["message"] == NO_SPOT


def test_gpu_types_list_prices_and_stock(gql: GraphQL, sim: StandIn) -> None:
    query = (
        "query G($ids: [String]) { gpuTypes(input: {ids: $ids}) { id displayName memoryInGb "
        "securePrice communityPrice maxGpuCount "
        "lowestPrice(input: {gpuCount: 1, secureCloud: true}) "
        "{ minimumBidPrice uninterruptablePrice stockStatus } } }"
    )
    by_id = {t["id"]: t for t in gql.data(query, {"ids": None})["gpuTypes"]}
    assert {"NVIDIA GeForce RTX 4090", GPU, "NVIDIA A100 80GB PCIe", H100} <= set(by_id)
    assert by_id[GPU]["lowestPrice"] == {
        "minimumBidPrice": 0.25,
        "uninterruptablePrice": 0.49,
        "stockStatus": "High",
    }
    sim.set_capacity(GPU, cloud="SECURE", spot=False, free=0)
    sim.set_prices(H100, stock_status="Low")
    again = gql.data(query, {"ids": [GPU, H100]})["gpuTypes"]
    assert {t["id"]: t["lowestPrice"]["stockStatus"] for t in again} == {GPU: None, H100: "Low"}


def test_an_aliased_multi_pod_query_is_operation_pod(gql: GraphQL, sim: StandIn) -> None:
    first, second = gql.create()["id"], gql.create()["id"]
    data = gql.data(
        "query P($a: String!, $b: String!) { p0: pod(input: {podId: $a}) { id } "
        'p1: pod(input: {podId: $b}) { id } p2: pod(input: {podId: "gone"}) { id } }',
        {"a": first, "b": second},
    )
    assert data == {"p0": {"id": first}, "p1": {"id": second}, "p2": None}
    record = sim.requests(operation="pod")[-1]
    assert record.pod_ids == (first, second, "gone")


def test_a_pod_key_may_read_and_end_only_its_own_pod(gql: GraphQL, sim: StandIn) -> None:
    own, other = gql.create()["id"], gql.create()["id"]
    key = sim.pod(own).api_key
    assert key.startswith("rpa_") and key != sim.runpod_api_key
    assert gql.pod(own, key=key)["id"] == own
    refused = [
        ("pod", {"podId": other}, "id"),
        ("podTerminate", {"podId": other}, ""),
        ("podStop", {"podId": other}, "id"),
        ("podFindAndDeployOnDemand", {"gpuTypeId": GPU}, "id"),
        ("podResume", {"podId": own}, "id"),
    ]
    for field, inputs, selection in refused:
        error = gql.call_error(field, inputs, selection, key=key)
        assert error["message"] == "Unauthorized", field
    for query in ("{ myself { id } }", "{ gpuTypes { id } }"):
        assert gql.errors(query, key=key)[0]["message"] == "Unauthorized"
    assert sim.pod(other).status == "RUNNING"
    assert gql.terminate(own, key=key).json() == {"data": {"podTerminate": None}}
    assert sim.pod(own).status == "TERMINATED"
    assert sim.requests(operation="podTerminate")[-1].principal == f"pod:{own}"
    # The key of a terminated pod is dead.
    assert gql.post("{ myself { id } }", key=key).status_code == 401


def test_resume_rules_for_spot_and_on_demand(gql: GraphQL, sim: StandIn) -> None:
    spot = gql.create(spot=True)["id"]
    reserved = gql.create()["id"]
    sim.preempt(spot)
    assert gql.pod(spot)["desiredStatus"] == "EXITED"
    error = gql.call_error("podResume", {"podId": spot, "gpuCount": 1})
    assert error["message"] == "Cannot resume a spot pod as an on demand pod."
    low = gql.call_error("podBidResume", {"podId": spot, "bidPerGpu": 0.01})
    assert low["extensions"]["code"] == "BID_TOO_LOW"
    resumed = gql.call_data(
        "podBidResume", {"podId": spot, "bidPerGpu": 0.4, "gpuCount": 1}, "desiredStatus costPerHr"
    )
    assert resumed == {"desiredStatus": "RUNNING", "costPerHr": 0.4}

    stopped = gql.call_data("podStop", {"podId": reserved}, "desiredStatus")
    assert stopped["desiredStatus"] == "EXITED"
    sim.set_capacity(GPU, free=0)
    full = gql.call_error("podResume", {"podId": reserved})
    assert (
        full["message"] == "There are not enough free GPUs on the host machine to start this pod."
    )
    sim.set_capacity(GPU, free=1)
    back = gql.call_data("podResume", {"podId": reserved}, "desiredStatus")
    assert back["desiredStatus"] == "RUNNING"


def test_stopped_pods_still_count_as_live(gql: GraphQL, sim: StandIn) -> None:
    pod_id = gql.create()["id"]
    gql.call_data("podStop", {"podId": pod_id})
    assert [p.id for p in sim.live_pods()] == [pod_id]
    assert gql.data("{ myself { pods { id desiredStatus } } }")["myself"]["pods"] == [
        {"id": pod_id, "desiredStatus": "EXITED"}
    ]


def test_terminate_after_is_enforced(gql: GraphQL, sim: StandIn) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=1)
    pod_id = gql.create(terminateAfter=deadline.isoformat().replace("+00:00", "Z"))["id"]
    assert sim.wait_for(lambda: sim.pod(pod_id).status == "TERMINATED", timeout=30)
    assert sim.pod(pod_id).ended_by == "terminateAfter"
    assert gql.pod(pod_id) is None


def test_stop_after_stops_the_pod(gql: GraphQL, sim: StandIn) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=0.5)
    pod_id = gql.create(stopAfter=deadline.isoformat())["id"]
    assert sim.wait_for(lambda: sim.pod(pod_id).status == "EXITED", timeout=30)
    assert gql.pod(pod_id)["desiredStatus"] == "EXITED"


def test_community_pods_without_public_ip_publish_no_public_port(
    make_sim: Callable[..., StandIn],
) -> None:
    sim = make_sim(boot_delay=0.0)
    gql = GraphQL(sim)
    pod_id = gql.create(cloudType="COMMUNITY", supportPublicIp=False)["id"]
    assert sim.wait_for(lambda: sim.pod(pod_id).ready_at is not None, timeout=20)
    (port,) = gql.pod(pod_id)["runtime"]["ports"]
    assert port["isIpPublic"] is False and port["ip"] != "127.0.0.1"


def test_pods_without_port_22_exposed_publish_no_ssh_port(make_sim: Callable[..., StandIn]) -> None:
    sim = make_sim(boot_delay=0.0)
    gql = GraphQL(sim)
    pod_id = gql.create(ports="8888/http")["id"]
    assert sim.wait_for(lambda: sim.pod(pod_id).ready_at is not None, timeout=20)
    assert gql.pod(pod_id)["runtime"]["ports"] == []


# --- switches: how the real API has changed, or answers -------------------------------

SPOT_LISTING = (
    "{ gpuTypes { id secureSpotPrice communitySpotPrice "
    "lowestPrice(input: {gpuCount: 1}) { minimumBidPrice } } }"
)


def test_spot_removed_from_the_schema_is_refused_like_apollo(gql: GraphQL, sim: StandIn) -> None:
    sim.remove_spot_from_schema()
    listing = gql.post(SPOT_LISTING)
    assert listing.status_code == 400
    errors = listing.json()["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"GRAPHQL_VALIDATION_FAILED"}
    messages = [e["message"] for e in errors]
    # graphql-js's wording and quotes, as RunPod's server sends them.
    assert 'Cannot query field "secureSpotPrice" on type "GpuType".' in messages[0]
    assert 'Cannot query field "minimumBidPrice" on type "LowestPrice".' in messages
    create = gql.call("podRentInterruptable", {"gpuTypeId": GPU, "bidPerGpu": 0.3, "gpuCount": 1})
    assert create.status_code == 400
    messages = [e["message"] for e in create.json()["errors"]]
    assert 'Cannot query field "podRentInterruptable" on type "Mutation".' in messages
    assert gql.data("{ gpuTypes { id securePrice } }")["gpuTypes"]
    assert not sim.all_pods()
    sim.remove_spot_from_schema(False)
    assert gql.post(SPOT_LISTING).status_code == 200


def test_terminate_after_refused_on_the_spot_input_only(gql: GraphQL, sim: StandIn) -> None:
    sim.refuse_spot_terminate_after()
    deadline = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    spot = {"gpuTypeId": GPU, "bidPerGpu": 0.3, "gpuCount": 1, "terminateAfter": deadline}
    refused = gql.call("podRentInterruptable", spot)
    assert refused.status_code == 400
    assert (
        'Field "terminateAfter" is not defined by type "PodRentInterruptableInput"'
        in (refused.json()["errors"][0]["message"])
    )
    assert not sim.all_pods()
    on_demand = {"gpuTypeId": GPU, "gpuCount": 1, "terminateAfter": deadline}
    assert gql.call_data("podFindAndDeployOnDemand", on_demand)["id"]


@pytest.mark.parametrize("field", ["podRentInterruptable", "podFindAndDeployOnDemand"])
def test_no_capacity_can_be_a_null_create_or_a_supply_constraint(
    gql: GraphQL, sim: StandIn, field: str
) -> None:
    sim.set_capacity(None, free=0)
    inputs: dict[str, object] = {"gpuTypeId": GPU, "gpuCount": 1}
    if field == "podRentInterruptable":
        inputs["bidPerGpu"] = 0.3
    sim.set_no_capacity_answer("null")
    response = gql.call(field, inputs)
    assert response.status_code == 200 and response.json() == {"data": {field: None}}
    sim.set_no_capacity_answer("supply_constraint")
    assert gql.call_error(field, inputs)["extensions"] == {"code": "SUPPLY_CONSTRAINT"}
    sim.set_no_capacity_answer("message")
    assert gql.call_error(field, inputs)["message"] in (NO_INSTANCES, NO_SPOT)
    with pytest.raises(ValueError):
        sim.set_no_capacity_answer("maybe")


def test_the_switches_can_be_set_over_the_admin_endpoint(sim: StandIn, gql: GraphQL) -> None:
    from runpod_ssh_action.sim.admin import TOKEN_HEADER

    def switch(body: object) -> requests.Response:
        return requests.post(
            f"{sim.admin_url}/switches",
            json=body,
            headers={TOKEN_HEADER: sim.admin_token},
            verify=sim.ca_bundle,
            timeout=30,
        )

    answer = switch({"spot_in_schema": False, "no_capacity_answer": "null"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "spot_in_schema": False,
        "spot_terminate_after": True,
        "no_capacity_answer": "null",
    }
    assert gql.post(SPOT_LISTING).status_code == 400
    assert switch({"spot": False}).status_code == 400
    assert switch({"no_capacity_answer": "maybe"}).status_code == 400

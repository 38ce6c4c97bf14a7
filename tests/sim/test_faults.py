"""Every fault kind, the admin endpoint, and the optional rate limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from standin_client import GPU, GraphQL

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.sim import Fault, StandIn
from runpod_ssh_action.sim.ratelimit import KeyRateLimit

CREATE = "podFindAndDeployOnDemand"
CREATE_INPUT = {"gpuTypeId": GPU, "gpuCount": 1, "ports": "22/tcp"}


def _create(gql: GraphQL, **kwargs: Any) -> requests.Response:
    return gql.call(CREATE, CREATE_INPUT, **kwargs)


def test_status_fault_answers_the_status_without_acting(gql: GraphQL, sim: StandIn) -> None:
    sim.faults.add(CREATE, Fault.status(503))
    response = _create(gql)
    assert response.status_code == 503
    assert response.text == "Service Unavailable"
    assert sim.all_pods() == []
    (record,) = sim.requests(operation=CREATE)
    assert (record.status, record.fault, record.acted) == (503, "status", False)
    # The schedule is spent: the next call is served.
    assert _create(gql).status_code == 200


def test_status_fault_can_act_first_with_its_own_body_and_headers(
    gql: GraphQL, sim: StandIn
) -> None:
    sim.faults.add(CREATE, Fault.status(502, "<html>bad gateway</html>", {"X-Edge": "1"}, act=True))
    response = _create(gql)
    assert response.status_code == 502
    assert response.text == "<html>bad gateway</html>"
    assert response.headers["X-Edge"] == "1"
    (pod,) = sim.all_pods()
    (record,) = sim.requests(operation=CREATE)
    assert record.acted and record.pod_ids == (pod.id,)


def test_graphql_error_fault(gql: GraphQL, sim: StandIn) -> None:
    message = "Something went wrong. Please try again later or contact support."
    sim.faults.add("myself", Fault.graphql_error(message, "INTERNAL_SERVER_ERROR"))
    response = gql.post("{ myself { id } }")
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": "INTERNAL_SERVER_ERROR"}}],
    }


def test_delay_fault_answers_normally_but_late(gql: GraphQL, sim: StandIn) -> None:
    sim.faults.add("myself", Fault.delay(0.3))
    assert gql.data("{ myself { id } }")["myself"]["id"]
    (record,) = sim.requests(operation="myself")
    assert record.fault == "delay" and record.status == 200
    assert record.duration >= 0.3


@pytest.mark.parametrize("act", [False, True])
def test_timeout_fault_outlasts_the_client(gql: GraphQL, sim: StandIn, act: bool) -> None:
    sim.faults.add(CREATE, Fault.timeout(hold=5, act=act))
    with pytest.raises(requests.exceptions.ReadTimeout):
        _create(gql, timeout=0.5)
    assert len(sim.all_pods()) == (1 if act else 0)
    assert sim.faults.pending() == {}


def test_timeout_fault_holds_for_the_configured_time_by_default(
    make_sim: Callable[..., StandIn],
) -> None:
    sim = make_sim(timeout_hold=0.2)
    gql = GraphQL(sim)
    sim.faults.add("myself", Fault.timeout())
    # Held 0.2 s, then the connection closes with no answer at all.
    with pytest.raises(requests.exceptions.ConnectionError):
        gql.post("{ myself { id } }", timeout=30)
    assert sim.wait_for(lambda: bool(sim.requests(operation="myself")), timeout=10)
    (record,) = sim.requests(operation="myself")
    assert record.status is None and record.duration >= 0.2


def test_reset_before_drops_the_call_unacted(gql: GraphQL, sim: StandIn) -> None:
    sim.faults.add(CREATE, Fault.reset_before())
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        _create(gql)
    assert "reset" in str(caught.value).lower() or "aborted" in str(caught.value).lower()
    assert sim.all_pods() == []
    (record,) = sim.requests(operation=CREATE)
    assert (record.status, record.fault, record.acted) == (None, "reset_before", False)


def test_reset_after_acts_and_then_drops_the_answer(gql: GraphQL, sim: StandIn) -> None:
    sim.faults.add(CREATE, Fault.reset_after())
    with pytest.raises(requests.exceptions.ConnectionError):
        _create(gql)
    (pod,) = sim.live_pods()
    assert pod.status == "RUNNING"
    (record,) = sim.requests(operation=CREATE)
    assert (record.status, record.fault, record.acted) == (None, "reset_after", True)
    assert record.pod_ids == (pod.id,)
    # The client can find what it made.
    assert [p["id"] for p in gql.data("{ myself { pods { id } } }")["myself"]["pods"]] == [pod.id]


def test_reset_after_on_terminate_ends_the_pod(gql: GraphQL, sim: StandIn) -> None:
    pod_id = gql.create()["id"]
    sim.faults.add("podTerminate", Fault.reset_after())
    with pytest.raises(requests.exceptions.ConnectionError):
        gql.terminate(pod_id)
    assert sim.pod(pod_id).status == "TERMINATED"
    assert gql.call_error("podTerminate", {"podId": pod_id}, "")["message"] == (
        "pod not found to terminate"
    )


@pytest.mark.parametrize("act", [True, False])
def test_malformed_fault_sends_broken_json(gql: GraphQL, sim: StandIn, act: bool) -> None:
    sim.faults.add(CREATE, Fault.malformed(act=act))
    response = _create(gql)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert len(sim.all_pods()) == (1 if act else 0)


@pytest.mark.parametrize(("retry_after", "header"), [(2.5, "3"), (None, None)])
def test_rate_limited_fault(
    gql: GraphQL, sim: StandIn, retry_after: float | None, header: str | None
) -> None:
    sim.faults.add("myself", Fault.rate_limited(retry_after))
    response = gql.post("{ myself { id } }")
    assert response.status_code == 429
    assert response.headers.get("Retry-After") == header


def test_faults_are_a_fifo_per_operation_and_can_be_cleared(gql: GraphQL, sim: StandIn) -> None:
    sim.faults.add("myself", Fault.status(500), Fault.status(502))
    sim.faults.add("gpuTypes", Fault.status(504))
    assert [gql.post("{ myself { id } }").status_code for _ in range(3)] == [500, 502, 200]
    assert set(sim.faults.pending()) == {"gpuTypes"}
    sim.faults.clear()
    assert gql.post("{ gpuTypes { id } }").status_code == 200


def test_an_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")


def test_admin_endpoint_needs_its_token_and_schedules_faults(gql: GraphQL, sim: StandIn) -> None:
    url = sim.admin_url + "/faults"
    body = {"operation": "myself", "faults": [Fault.status(502, act=True).to_json()]}
    wrong = requests.post(
        url, json=body, headers={"X-Sim-Admin-Token": "nope"}, verify=sim.ca_bundle, timeout=30
    )
    assert wrong.status_code == 403
    assert sim.faults.pending() == {}
    headers = {"X-Sim-Admin-Token": sim.admin_token}
    added = requests.post(url, json=body, headers=headers, verify=sim.ca_bundle, timeout=30)
    assert added.status_code == 200
    assert added.json() == {"myself": [{"kind": "status", "act": True, "http_status": 502}]}
    assert gql.post("{ myself { id } }").status_code == 502
    bad = requests.post(
        url,
        json={"operation": "myself", "faults": [{"kind": "status", "colour": "red"}]},
        headers=headers,
        verify=sim.ca_bundle,
        timeout=30,
    )
    assert bad.status_code == 400
    requests.post(
        url,
        json={"operation": "pod", "faults": [{"kind": "reset_before"}]},
        headers=headers,
        verify=sim.ca_bundle,
        timeout=30,
    )
    cleared = requests.post(
        url, json={"clear": True}, headers=headers, verify=sim.ca_bundle, timeout=30
    )
    assert cleared.json() == {}
    records = requests.get(
        sim.admin_url + "/requests",
        params={"operation": "myself"},
        headers=headers,
        verify=sim.ca_bundle,
        timeout=30,
    ).json()
    assert [r["status"] for r in records] == [502]
    # Admin calls are not part of the record.
    assert {r.api for r in sim.requests()} == {"runpod"}


def test_rate_limit_answers_429_with_retry_after(make_sim: Callable[..., StandIn]) -> None:
    sim = make_sim(rate_limit=True, rate_limit_per_minute=3)
    gql = GraphQL(sim)
    pod_id = gql.create()["id"]
    assert [gql.post("{ myself { id } }").status_code for _ in range(2)] == [200] * 2
    refused = gql.post("{ myself { id } }")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # The budget is per key: the pod's own key still has all of its own.
    assert gql.pod(pod_id, key=sim.pod(pod_id).api_key)["id"] == pod_id


def test_sliding_windows_per_key() -> None:
    clock = FakeClock()
    limit = KeyRateLimit(clock, per_minute=100, per_second=10)
    assert [limit.admit("a") for _ in range(10)] == [None] * 10
    assert limit.admit("a") == pytest.approx(1.0)
    assert limit.admit("b") is None
    clock.advance(1.0)
    assert limit.admit("a") is None
    for _ in range(89):
        clock.advance(0.2)
        assert limit.admit("a") is None
    # 100 calls inside the last minute: the next waits for the oldest to age out.
    wait = limit.admit("a")
    assert wait is not None and 0 < wait <= 60
    clock.advance(wait + 1e-6)
    assert limit.admit("a") is None

"""Each operation: the document and variables sent, and the answer read back."""

from __future__ import annotations

import pytest
from runpod_fakes import API_KEY, FULL_SPEC, FakeRunPod, api_pod, gql_error

from runpod_ssh_action import __version__
from runpod_ssh_action.runpod import Account, PodSpec, RunPodClient, SshEndpoint
from runpod_ssh_action.runpod.errors import AuthError, InvalidRequestError, PodNotFoundError

RUNTIME = {
    "uptimeInSeconds": 30,
    "ports": [
        {
            "ip": "203.0.113.9",
            "isIpPublic": True,
            "privatePort": 22,
            "publicPort": 41022,
            "type": "tcp",
        }
    ],
    "gpus": [{"id": "GPU-a", "gpuUtilPercent": 0, "memoryUtilPercent": 1}],
}


def test_myself(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"myself": {"id": "user-1", "email": "ci@example.com"}}})
    assert client.myself() == Account("user-1", "ci@example.com")
    (sent,) = server.sent
    assert sent.root == "myself"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"].startswith(f"runpod-ssh-action/{__version__}")


def test_myself_null_is_an_auth_error(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"myself": None}})
    with pytest.raises(AuthError):
        client.myself()


def test_create_spot_sends_every_field_and_the_bid(
    client: RunPodClient, server: FakeRunPod
) -> None:
    server.reply({"data": {"podRentInterruptable": api_pod("p1", FULL_SPEC.name)}})
    pod = client.create_spot(FULL_SPEC, 0.31)
    (sent,) = server.sent
    assert sent.root == "podRentInterruptable"
    assert sent.variables == {"input": {**FULL_SPEC.to_input(), "bidPerGpu": 0.31}}
    assert (pod.id, pod.name, pod.pod_host_id) == ("p1", FULL_SPEC.name, "p1-host")
    assert not pod.runtime_ready


def test_create_on_demand(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"podFindAndDeployOnDemand": api_pod("p2", "od")}})
    pod = client.create_on_demand(PodSpec(name="od", gpu_type_id="NVIDIA A40", ports="22/tcp"))
    assert pod.id == "p2"
    (sent,) = server.sent
    assert sent.root == "podFindAndDeployOnDemand"
    assert sent.variables == {
        "input": {"name": "od", "gpuTypeId": "NVIDIA A40", "gpuCount": 1, "ports": "22/tcp"}
    }


@pytest.mark.parametrize("bid", [0, -1.0, float("nan")])
def test_create_spot_needs_a_positive_bid(client: RunPodClient, bid: float) -> None:
    with pytest.raises(ValueError):
        client.create_spot(PodSpec(name="n"), bid)


def test_pod(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"pod": api_pod("p1", "n", runtime=RUNTIME)}})
    pod = client.pod("p1")
    assert pod is not None
    assert pod.ssh_endpoint() == SshEndpoint("203.0.113.9", 41022)
    assert pod.uptime_seconds == 30
    (sent,) = server.sent
    assert (sent.root, sent.variables) == ("pod", {"podId": "p1"})


@pytest.mark.parametrize(
    "answer",
    [
        {"data": {"pod": None}},
        gql_error("pod not found"),
        gql_error("Pod not found", "NOT_FOUND", podId="p9"),
    ],
)
def test_pod_gone_is_none(client: RunPodClient, server: FakeRunPod, answer: object) -> None:
    server.reply(answer)
    assert client.pod("p9") is None


def test_pods_are_read_in_one_request(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(
        {
            "data": {
                "p0": api_pod("a", "n-0", runtime=RUNTIME),
                "p1": None,
                "p2": api_pod("c", "n-2"),
            },
        }
    )
    result = client.pods(["a", "b", "c", "a"])
    assert list(result) == ["a", "b", "c"]
    assert result["a"] is not None and result["a"].runtime_ready
    assert result["b"] is None
    assert result["c"] is not None and not result["c"].runtime_ready
    (sent,) = server.sent
    assert sent.root == "pod"
    assert sent.query.startswith("query pods(")
    assert sent.variables == {"p0": "a", "p1": "b", "p2": "c"}
    assert client.transport.metrics.snapshot()["pods"].calls == 1


def test_pods_not_found_error_on_one_alias(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(
        {
            "data": {"p0": api_pod("a", "n-0"), "p1": None},
            "errors": [{"message": "pod not found", "path": ["p1"]}],
        }
    )
    result = client.pods(["a", "b"])
    assert result["a"] is not None
    assert result["b"] is None


def test_pods_other_errors_raise(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": None, "errors": [{"message": "Unauthorized", "path": ["p0"]}]})
    with pytest.raises(AuthError):
        client.pods(["a"])


def test_pods_of_nothing_sends_nothing(client: RunPodClient, server: FakeRunPod) -> None:
    assert client.pods([]) == {}
    assert server.sent == []


def test_list_pods_filters_by_prefix(client: RunPodClient, server: FakeRunPod) -> None:
    pods = [
        api_pod("a", "gh-run-1-0"),
        api_pod("b", "other"),
        api_pod("c", "gh-run-1-1"),
        {**api_pod("d", "x"), "name": None},
    ]
    server.reply({"data": {"myself": {"pods": pods}}}, {"data": {"myself": {"pods": pods}}})
    assert [p.id for p in client.list_pods("gh-run-1-")] == ["a", "c"]
    assert [p.id for p in client.list_pods()] == ["a", "b", "c", "d"]
    assert server.roots() == ["myself", "myself"]


def test_resume(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"podResume": api_pod("p1", "n")}})
    assert client.resume("p1", 2).id == "p1"
    assert server.sent[0].variables == {"input": {"podId": "p1", "gpuCount": 2}}
    assert server.roots() == ["podResume"]


def test_bid_resume(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"podBidResume": api_pod("p1", "n")}})
    assert client.bid_resume("p1", 0.25, 1).id == "p1"
    assert server.sent[0].variables == {"input": {"podId": "p1", "bidPerGpu": 0.25, "gpuCount": 1}}


def test_resume_of_a_spot_pod_says_to_bid(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(gql_error("Cannot resume a spot pod as an on demand pod."))
    with pytest.raises(InvalidRequestError, match="podBidResume"):
        client.resume("p1", 1)


def test_stop(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"podStop": {**api_pod("p1", "n"), "desiredStatus": "EXITED"}}})
    assert client.stop("p1").desired_status == "EXITED"
    assert server.sent[0].variables == {"input": {"podId": "p1"}}


def test_stop_of_a_gone_pod_raises(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(gql_error("pod not found"))
    with pytest.raises(PodNotFoundError):
        client.stop("p1")


def test_terminate(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"podTerminate": None}})
    assert client.terminate("p1") is True
    assert (server.roots(), server.sent[0].variables) == (
        ["podTerminate"],
        {"input": {"podId": "p1"}},
    )


@pytest.mark.parametrize(
    "answer",
    [gql_error("pod not found to terminate"), gql_error("Pod not found", "NOT_FOUND")],
)
def test_terminate_of_a_gone_pod(client: RunPodClient, server: FakeRunPod, answer: object) -> None:
    server.reply(answer)
    assert client.terminate("p1") is False


GPU_A40 = {
    "id": "NVIDIA A40",
    "displayName": "A40",
    "memoryInGb": 48,
    "secureCloud": True,
    "communityCloud": True,
    "securePrice": 0.4,
    "communityPrice": 0.35,
    "secureSpotPrice": 0.2,
    "communitySpotPrice": 0.18,
    "maxGpuCount": 8,
    "lowestPrice": {"minimumBidPrice": 0.18, "uninterruptablePrice": 0.35, "stockStatus": "High"},
}
GPU_4090 = {
    **GPU_A40,
    "id": "NVIDIA GeForce RTX 4090",
    "displayName": "RTX 4090",
    "lowestPrice": {"minimumBidPrice": None, "uninterruptablePrice": 0.69, "stockStatus": "Low"},
}
GPU_H100 = {**GPU_A40, "id": "NVIDIA H100 80GB HBM3", "displayName": "H100 SXM"}


def test_gpu_types_all(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"gpuTypes": [GPU_A40, GPU_4090, GPU_H100]}})
    gpus = client.gpu_types(2, use_cache=False)
    assert [g.id for g in gpus] == [
        "NVIDIA A40",
        "NVIDIA GeForce RTX 4090",
        "NVIDIA H100 80GB HBM3",
    ]
    assert gpus[0].minimum_bid_price == 0.18 and gpus[0].stock_status == "High"
    assert not gpus[1].spot_available
    assert server.sent[0].variables == {"lowestPrice": {"gpuCount": 2}}


def test_gpu_types_one_id_is_filtered_by_runpod(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"gpuTypes": [GPU_A40]}})
    assert [g.id for g in client.gpu_types(1, ["NVIDIA A40"])] == ["NVIDIA A40"]
    assert server.sent[0].variables == {
        "lowestPrice": {"gpuCount": 1},
        "input": {"id": "NVIDIA A40"},
    }


def test_gpu_types_several_ids_keep_their_order(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"gpuTypes": [GPU_A40, GPU_4090, GPU_H100]}})
    gpus = client.gpu_types(1, ["NVIDIA H100 80GB HBM3", "NVIDIA B200", "NVIDIA A40"])
    assert [g.id for g in gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA A40"]
    assert "input" not in server.sent[0].variables


def test_metrics_count_per_operation(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply({"data": {"myself": {"id": "u"}}}, {"data": {"podTerminate": None}})
    client.myself()
    client.terminate("p")
    stats = client.transport.metrics.snapshot()
    assert stats["myself"].calls == 1 and stats["podTerminate"].calls == 1
    assert client.transport.metrics.requests == 2


def test_gpu_types_of_no_ids_sends_nothing(client: RunPodClient, server: FakeRunPod) -> None:
    assert client.gpu_types(1, []) == []
    assert server.sent == []

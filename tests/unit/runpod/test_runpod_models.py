"""PodSpec to the API's input, and the API's JSON to typed objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from runpod_fakes import FULL_SPEC, api_pod

from runpod_ssh_action.runpod import GpuType, Pod, PodSpec, PortMapping, SshEndpoint


def test_to_input_uses_the_exact_api_names() -> None:
    assert FULL_SPEC.to_input() == {
        "name": "rp-gh-123-1-0",
        "imageName": "runpod/base:0.6.2",
        "gpuTypeId": "NVIDIA GeForce RTX 4090",
        "gpuCount": 2,
        "cloudType": "COMMUNITY",
        "containerDiskInGb": 20,
        "volumeInGb": 0,
        "volumeMountPath": "/workspace",
        "networkVolumeId": "vol-1",
        "ports": "22/tcp",
        "env": [{"key": "PUBLIC_KEY", "value": "ssh-ed25519 AAAAkey"}],
        "dockerArgs": "",
        "templateId": "tpl-1",
        "startSsh": True,
        "supportPublicIp": True,
        "dataCenterId": "EU-CZ-1",
        "countryCode": "CZ",
        "minVcpuCount": 4,
        "minMemoryInGb": 16,
        "allowedCudaVersions": ["12.4", "12.6"],
        "minCudaVersion": "12.4",
        "stopAfter": "2026-01-01T01:00:00Z",
        "terminateAfter": "2026-01-01T02:00:00Z",
    }


def test_to_input_leaves_out_what_is_unset() -> None:
    assert PodSpec(name="n").to_input() == {"name": "n", "gpuCount": 1}


def test_deadlines_are_sent_in_utc_with_z() -> None:
    plus_two = timezone(timedelta(hours=2))
    spec = PodSpec(name="n", terminate_after=datetime(2026, 3, 1, 12, 30, 15, 999, plus_two))
    assert spec.to_input()["terminateAfter"] == "2026-03-01T10:30:15Z"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": ""},
        {"name": "  "},
        {"name": "n", "gpu_count": 0},
        {"name": "n", "cloud_type": "secure"},
        {"name": "n", "terminate_after": datetime(2026, 1, 1)},
        {"name": "n", "stop_after": datetime(2026, 1, 1)},
    ],
)
def test_spec_contract(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PodSpec(**kwargs)  # type: ignore[arg-type]


def test_spec_env_is_a_private_copy() -> None:
    env = {"A": "1"}
    spec = PodSpec(name="n", env=env)
    env["B"] = "2"
    assert spec.to_input()["env"] == [{"key": "A", "value": "1"}]


def running_pod(ports: list[dict[str, object]]) -> Pod:
    runtime = {
        "uptimeInSeconds": 12,
        "ports": ports,
        "gpus": [{"id": "GPU-1", "gpuUtilPercent": 3, "memoryUtilPercent": 9}],
    }
    return Pod.from_api(api_pod("abc", "n", runtime=runtime))


def test_pod_from_api() -> None:
    pod = running_pod(
        [
            {
                "ip": "10.0.0.2",
                "isIpPublic": False,
                "privatePort": 22,
                "publicPort": 22,
                "type": "tcp",
            }
        ]
    )
    assert pod.id == "abc"
    assert pod.name == "n"
    assert pod.desired_status == "RUNNING"
    assert pod.cost_per_hr == 0.44
    assert pod.gpu_display_name == "RTX 4090"
    assert pod.location == "CZ"
    assert pod.pod_host_id == "abc-host"
    assert pod.pod_type == "INTERRUPTABLE"
    assert pod.uptime_seconds == 12
    assert pod.runtime_ready
    assert pod.ports == (PortMapping("10.0.0.2", False, 22, 22, "tcp"),)
    assert pod.gpus[0].gpu_util_percent == 3


def test_pod_without_runtime_is_not_ready() -> None:
    pod = Pod.from_api(api_pod("abc", "n"))
    assert not pod.runtime_ready
    assert pod.uptime_seconds is None
    assert pod.ports == ()
    assert pod.ssh_endpoint() is None


def test_ssh_endpoint_is_the_public_mapping_of_22() -> None:
    pod = running_pod(
        [
            {"ip": "10.0.0.2", "isIpPublic": False, "privatePort": 22, "publicPort": 22},
            {"ip": "203.0.113.5", "isIpPublic": True, "privatePort": 8888, "publicPort": 40001},
            {"ip": "203.0.113.5", "isIpPublic": True, "privatePort": 22, "publicPort": 40022},
        ]
    )
    assert pod.ssh_endpoint() == SshEndpoint("203.0.113.5", 40022, "root")


def test_no_ssh_endpoint_without_a_public_ip() -> None:
    pod = running_pod(
        [{"ip": "10.0.0.2", "isIpPublic": False, "privatePort": 22, "publicPort": 22}]
    )
    assert pod.ssh_endpoint() is None


def test_pod_tolerates_odd_values() -> None:
    pod = Pod.from_api(
        {
            "id": "x",
            "costPerHr": "cheap",
            "gpuCount": True,
            "machine": None,
            "runtime": {"ports": None, "gpus": "none"},
        }
    )
    assert pod.cost_per_hr is None
    assert pod.gpu_count is None
    assert pod.runtime_ready
    assert pod.ports == ()


def test_gpu_type_from_api() -> None:
    gpu = GpuType.from_api(
        {
            "id": "NVIDIA A40",
            "displayName": "A40",
            "memoryInGb": 48,
            "secureCloud": True,
            "communityCloud": False,
            "maxGpuCount": 8,
            "securePrice": 0.4,
            "communityPrice": None,
            "secureSpotPrice": 0.2,
            "communitySpotPrice": None,
            "lowestPrice": {
                "minimumBidPrice": 0.19,
                "uninterruptablePrice": 0.39,
                "stockStatus": "High",
            },
        }
    )
    assert gpu == GpuType(
        "NVIDIA A40", "A40", 48, True, False, 8, 0.19, 0.39, "High", 0.4, None, 0.2, None
    )
    assert gpu.spot_available


@pytest.mark.parametrize("bid", [None, 0, 0.0])
def test_no_minimum_bid_means_no_spot(bid: float | None) -> None:
    gpu = GpuType.from_api({"id": "g", "lowestPrice": {"minimumBidPrice": bid}})
    assert not gpu.spot_available


def test_spec_is_frozen() -> None:
    with pytest.raises(AttributeError):
        PodSpec(name="n").name = "m"  # type: ignore[misc]


def test_deadline_in_utc_already() -> None:
    spec = PodSpec(name="n", stop_after=datetime(2026, 1, 1, tzinfo=UTC))
    assert spec.to_input()["stopAfter"] == "2026-01-01T00:00:00Z"

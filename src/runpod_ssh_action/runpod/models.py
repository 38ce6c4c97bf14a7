"""RunPod's objects as frozen dataclasses, with the API's exact field casing kept here.

``PodSpec.to_input`` is the one place snake_case becomes the API's names; the
``from_api`` constructors are the one place the API's JSON becomes typed values. They
accept missing or null fields, as RunPod leaves out whatever it has not filled in yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CLOUD_TYPES = ("ALL", "SECURE", "COMMUNITY")

# PodSpec attribute -> create input field, in the API's exact casing.
_INPUT_NAMES = {
    "name": "name",
    "image_name": "imageName",
    "gpu_type_id": "gpuTypeId",
    "gpu_count": "gpuCount",
    "cloud_type": "cloudType",
    "container_disk_in_gb": "containerDiskInGb",
    "volume_in_gb": "volumeInGb",
    "volume_mount_path": "volumeMountPath",
    "network_volume_id": "networkVolumeId",
    "ports": "ports",
    "docker_args": "dockerArgs",
    "template_id": "templateId",
    "start_ssh": "startSsh",
    "support_public_ip": "supportPublicIp",
    "data_center_id": "dataCenterId",
    "country_code": "countryCode",
    "min_vcpu_count": "minVcpuCount",
    "min_memory_in_gb": "minMemoryInGb",
    "min_cuda_version": "minCudaVersion",
}


@dataclass(frozen=True)
class PodSpec:
    """What to create. ``name`` is required and should be unique: after a create whose
    answer was lost, the client finds the pod by this name instead of creating twice."""

    name: str
    image_name: str | None = None
    gpu_type_id: str | None = None
    gpu_count: int = 1
    cloud_type: str | None = None
    container_disk_in_gb: int | None = None
    volume_in_gb: int | None = None
    volume_mount_path: str | None = None
    network_volume_id: str | None = None
    ports: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    docker_args: str | None = None
    template_id: str | None = None
    start_ssh: bool | None = None
    support_public_ip: bool | None = None
    data_center_id: str | None = None
    country_code: str | None = None
    min_vcpu_count: int | None = None
    min_memory_in_gb: int | None = None
    allowed_cuda_versions: tuple[str, ...] | None = None
    min_cuda_version: str | None = None
    stop_after: datetime | None = None
    terminate_after: datetime | None = None

    def __post_init__(self) -> None:
        # Contract checks on values built by code (inputs are validated earlier, in
        # the settings), so a broken caller fails before anything is rented.
        if not self.name or not self.name.strip():
            raise ValueError("PodSpec.name must be a non-empty, unique pod name")
        if self.gpu_count < 1:
            raise ValueError("PodSpec.gpu_count must be at least 1")
        if self.cloud_type is not None and self.cloud_type not in CLOUD_TYPES:
            raise ValueError(f"PodSpec.cloud_type must be one of {', '.join(CLOUD_TYPES)}")
        for name in ("stop_after", "terminate_after"):
            when = getattr(self, name)
            if when is not None and when.utcoffset() is None:
                raise ValueError(f"PodSpec.{name} must be a timezone-aware datetime")
        if self.allowed_cuda_versions is not None:
            object.__setattr__(self, "allowed_cuda_versions", tuple(self.allowed_cuda_versions))
        object.__setattr__(self, "env", dict(self.env))

    def to_input(self) -> dict[str, Any]:
        """The create input with the API's names; unset (None) fields are left out so
        RunPod applies its own defaults."""
        result: dict[str, Any] = {}
        for attribute, api_name in _INPUT_NAMES.items():
            value = getattr(self, attribute)
            if value is not None:
                result[api_name] = value
        if self.env:
            result["env"] = [{"key": k, "value": v} for k, v in self.env.items()]
        if self.allowed_cuda_versions is not None:
            result["allowedCudaVersions"] = list(self.allowed_cuda_versions)
        if self.stop_after is not None:
            result["stopAfter"] = iso_utc(self.stop_after)
        if self.terminate_after is not None:
            result["terminateAfter"] = iso_utc(self.terminate_after)
        return result


def iso_utc(when: datetime) -> str:
    """ISO 8601 in UTC with a 'Z', whole seconds (e.g. 2026-01-01T02:00:00Z)."""
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SshEndpoint:
    host: str
    port: int
    user: str = "root"


@dataclass(frozen=True)
class PortMapping:
    ip: str | None
    is_ip_public: bool
    private_port: int | None
    public_port: int | None
    type: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PortMapping:
        return cls(
            ip=_str(data.get("ip")),
            is_ip_public=data.get("isIpPublic") is True,
            private_port=_int(data.get("privatePort")),
            public_port=_int(data.get("publicPort")),
            type=_str(data.get("type")),
        )


@dataclass(frozen=True)
class PodGpu:
    id: str | None
    gpu_util_percent: int | None
    memory_util_percent: int | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PodGpu:
        return cls(
            id=_str(data.get("id")),
            gpu_util_percent=_int(data.get("gpuUtilPercent")),
            memory_util_percent=_int(data.get("memoryUtilPercent")),
        )


@dataclass(frozen=True)
class Pod:
    id: str
    name: str | None = None
    desired_status: str | None = None
    cost_per_hr: float | None = None
    image_name: str | None = None
    machine_id: str | None = None
    gpu_count: int | None = None
    pod_type: str | None = None
    gpu_display_name: str | None = None
    location: str | None = None
    pod_host_id: str | None = None
    uptime_seconds: int | None = None
    ports: tuple[PortMapping, ...] = ()
    gpus: tuple[PodGpu, ...] = ()
    # ``runtime`` is null until the container is up; desiredStatus is no readiness signal.
    runtime_ready: bool = False

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Pod:
        machine = _dict(data.get("machine"))
        runtime_value = data.get("runtime")
        runtime = _dict(runtime_value)
        return cls(
            id=str(data["id"]),
            name=_str(data.get("name")),
            desired_status=_str(data.get("desiredStatus")),
            cost_per_hr=_float(data.get("costPerHr")),
            image_name=_str(data.get("imageName")),
            machine_id=_str(data.get("machineId")),
            gpu_count=_int(data.get("gpuCount")),
            pod_type=_str(data.get("podType")),
            gpu_display_name=_str(machine.get("gpuDisplayName")),
            location=_str(machine.get("location")),
            pod_host_id=_str(machine.get("podHostId")),
            uptime_seconds=_int(runtime.get("uptimeInSeconds")),
            ports=tuple(PortMapping.from_api(_dict(p)) for p in _list(runtime.get("ports"))),
            gpus=tuple(PodGpu.from_api(_dict(g)) for g in _list(runtime.get("gpus"))),
            runtime_ready=isinstance(runtime_value, dict),
        )

    def ssh_endpoint(self) -> SshEndpoint | None:
        """Where sshd answers from outside: the public mapping of port 22, if any yet."""
        for port in self.ports:
            if port.private_port == 22 and port.is_ip_public and port.ip and port.public_port:
                return SshEndpoint(port.ip, port.public_port)
        return None


@dataclass(frozen=True)
class GpuType:
    id: str
    display_name: str | None = None
    memory_in_gb: int | None = None
    secure_cloud: bool | None = None
    community_cloud: bool | None = None
    max_gpu_count: int | None = None
    minimum_bid_price: float | None = None
    uninterruptable_price: float | None = None
    stock_status: str | None = None
    secure_price: float | None = None
    community_price: float | None = None
    secure_spot_price: float | None = None
    community_spot_price: float | None = None

    @property
    def spot_available(self) -> bool:
        """RunPod marks "no spot" with a null or zero minimum bid."""
        return bool(self.minimum_bid_price)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> GpuType:
        lowest = _dict(data.get("lowestPrice"))
        return cls(
            id=str(data["id"]),
            display_name=_str(data.get("displayName")),
            memory_in_gb=_int(data.get("memoryInGb")),
            secure_cloud=_bool(data.get("secureCloud")),
            community_cloud=_bool(data.get("communityCloud")),
            max_gpu_count=_int(data.get("maxGpuCount")),
            minimum_bid_price=_float(lowest.get("minimumBidPrice")),
            uninterruptable_price=_float(lowest.get("uninterruptablePrice")),
            stock_status=_str(lowest.get("stockStatus")),
            secure_price=_float(data.get("securePrice")),
            community_price=_float(data.get("communityPrice")),
            secure_spot_price=_float(data.get("secureSpotPrice")),
            community_spot_price=_float(data.get("communitySpotPrice")),
        )


@dataclass(frozen=True)
class Account:
    id: str
    email: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Account:
        return cls(id=str(data["id"]), email=_str(data.get("email")))


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

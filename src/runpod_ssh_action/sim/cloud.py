"""The stand-in's RunPod: GPU pools, prices, pods and their lives.

Capacity is a count of free GPUs per (GPU type, cloud, spot or on-demand). A create
takes ``gpuCount`` GPUs from the first cloud with room (``ALL`` tries SECURE, then
COMMUNITY); stopping, preempting or terminating a pod gives them back, resuming
takes them again. A pod boots ``boot_delay`` seconds after create or resume: its
sshd starts, and only then does ``runtime`` stop being null. ``terminateAfter`` and
``stopAfter`` are enforced by a reaper thread. Errors carry RunPod's own messages.
"""

from __future__ import annotations

import contextlib
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import Clock
from ..errors import CancelledError
from .config import GpuType, SimConfig
from .sshd import PodSshd, kill_tagged_processes

NO_INSTANCES = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
NO_SPOT_INSTANCES = (
    "There are no instances available with the request specifications. Please try again later."
)
NOT_ENOUGH_GPUS = "There are not enough free GPUs on the host machine to start this pod."
NOT_FOUND_TO_TERMINATE = "pod not found to terminate"
SPOT_AS_ON_DEMAND = "Cannot resume a spot pod as an on demand pod."
BID_TOO_LOW = "Bid price below minimum required"
UNAUTHORIZED = "Unauthorized"

SECURE, COMMUNITY = "SECURE", "COMMUNITY"
CLOUDS = (SECURE, COMMUNITY)
RUNNING, EXITED, TERMINATED = "RUNNING", "EXITED", "TERMINATED"

_ID_ALPHABET = string.ascii_lowercase + string.digits
_LOCATIONS = {SECURE: "US-TX-3", COMMUNITY: "CZ"}
# Where a pod without a public IP says its port 22 is: loopback, so a client that
# ignores isIpPublic gets a refused connection instead of sending traffic off-box.
_PRIVATE_IP = "127.0.0.2"


class CloudError(Exception):
    """A business error, answered as HTTP 200 with ``errors[]``."""

    def __init__(self, message: str, code: str | None = None, **details: Any):
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": code, **details} if code else {}


class NoRoomError(CloudError):
    """No capacity for a create; the API answers it as ``no_capacity_answer`` says."""


# How a create with no room may be answered (SimConfig.no_capacity_answer).
NO_CAPACITY_ANSWERS = ("message", "null", "supply_constraint")
# The stand-in's own words: the real text of a SUPPLY_CONSTRAINT error is unknown, so
# this one names no rule a client could match; only the code says "no capacity".
SUPPLY_CONSTRAINT_MESSAGE = "The requested GPUs cannot be supplied right now."


def random_id(length: int = 14) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _status_stamp(when: datetime) -> str:
    return when.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


@dataclass
class Pod:
    """A pod's whole life. Mutated only under the cloud's lock."""

    id: str
    name: str
    image_name: str
    gpu_type: GpuType
    gpu_count: int
    cloud: str
    spot: bool
    bid_per_gpu: float | None
    cost_per_hr: float
    create_operation: str
    create_input: dict[str, Any]
    env: list[tuple[str, str]]
    api_key: str
    public_ip: bool
    expose_ssh: bool
    machine_id: str
    pod_host_id: str
    location: str
    created_at: datetime
    created_mono: float
    sshd: PodSshd
    terminate_after: datetime | None
    stop_after: datetime | None
    status: str = RUNNING
    last_status_change: str = ""
    holds_gpus: bool = True
    # Bumped on every stop/resume so a boot that lost the race does not resurrect.
    generation: int = 0
    booted_mono: float | None = None
    ended_mono: float | None = None
    ended_by: str | None = None
    gpu_ids: list[str] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    # Held while sshd starts or stops, so a terminate never races a boot.
    ssh_lock: threading.RLock = field(default_factory=threading.RLock)


@dataclass(frozen=True)
class PodInfo:
    """A snapshot of a pod for tests and benchmarks.

    ``status`` is RUNNING, EXITED or TERMINATED. Times are ``time.monotonic()``
    values: ``ready_at`` when ``runtime`` was first published, ``first_connection_at``
    when its sshd first accepted a TCP connection, ``first_login_at`` the first
    successful key login, ``ended_at`` when it was terminated (``ended_by`` says by
    whom: "api", "terminateAfter", "stopAfter", "preempted", "stop", "stand-in").
    ``create_input`` is the GraphQL input exactly as the client sent it.
    """

    id: str
    name: str
    status: str
    spot: bool
    gpu_type_id: str
    gpu_count: int
    cloud: str
    cost_per_hr: float
    bid_per_gpu: float | None
    create_operation: str
    create_input: dict[str, Any]
    env: dict[str, str]
    api_key: str
    ssh_port: int | None
    host_public_key: str
    created_at: float
    ready_at: float | None
    first_connection_at: float | None
    first_login_at: float | None
    ended_at: float | None
    ended_by: str | None
    terminate_after: datetime | None
    events: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class _Machine:
    """What a pod gets before it is placed: its id, keys and its sshd."""

    pod_id: str
    gpu_count: int
    env: list[tuple[str, str]]
    api_key: str
    pod_host_id: str
    sshd: PodSshd


def _parse_env(entries: Iterable[Mapping[str, str]] | None) -> list[tuple[str, str]]:
    return [(str(e["key"]), str(e["value"])) for e in entries or () if e is not None]


class Cloud:
    def __init__(
        self,
        config: SimConfig,
        *,
        clock: Clock,
        sweep_clock: Clock,
        pods_dir: Path,
        session_env: Mapping[str, str],
        account_key: str,
        on_error: Callable[[BaseException], None],
    ):
        self.config = config
        self.clock = clock
        # Killing a pod's processes must finish even while the stand-in shuts down,
        # when ``clock`` (cancelled then) refuses to sleep.
        self.sweep_clock = sweep_clock
        self.pods_dir = pods_dir
        self.session_env = dict(session_env)
        self.account_key = account_key
        self.on_error = on_error
        self.gpu_types: dict[str, GpuType] = {g.id: g for g in config.gpu_types}
        self.free: dict[tuple[str, str, bool], int] = {
            (g.id, cloud, spot): config.free_gpus
            for g in config.gpu_types
            for cloud in CLOUDS
            for spot in (False, True)
        }
        self.spot_withdrawn = not config.spot or not config.spot_in_schema
        self.spot_in_schema = config.spot_in_schema
        self.spot_terminate_after = config.spot_terminate_after
        self.no_capacity_answer = _no_capacity_answer(config.no_capacity_answer)
        self.pods: dict[str, Pod] = {}
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._reaper = threading.Thread(target=self._reap, name="sim-reaper", daemon=True)

    # --- catalogue and capacity ---------------------------------------------------

    def set_capacity(
        self, gpu: str | None, cloud: str | None = None, spot: bool | None = None, *, free: int
    ) -> None:
        with self._lock:
            if gpu is not None and gpu not in self.gpu_types:
                raise KeyError(f"unknown GPU type {gpu!r}")
            for key in self.free:
                gpu_id, pool_cloud, pool_spot = key
                if (
                    (gpu is None or gpu_id == gpu)
                    and (cloud is None or pool_cloud == cloud)
                    and (spot is None or pool_spot == spot)
                ):
                    self.free[key] = free

    def free_gpus(self, gpu: str, cloud: str, spot: bool) -> int:
        with self._lock:
            return self.free.get((gpu, cloud, spot), 0)

    def withdraw_spot(self, withdrawn: bool = True) -> None:
        with self._lock:
            self.spot_withdrawn = withdrawn

    def remove_spot_from_schema(self, removed: bool = True) -> None:
        """Spot leaves the API: its mutation and price fields fail validation, and
        there is no spot capacity either."""
        with self._lock:
            self.spot_in_schema = not removed
            self.spot_withdrawn = removed

    def refuse_spot_terminate_after(self, refused: bool = True) -> None:
        with self._lock:
            self.spot_terminate_after = not refused

    def set_no_capacity_answer(self, answer: str) -> None:
        with self._lock:
            self.no_capacity_answer = _no_capacity_answer(answer)

    def set_gpu_type(self, gpu_type: GpuType) -> None:
        with self._lock:
            self.gpu_types[gpu_type.id] = gpu_type
            for cloud in CLOUDS:
                for spot in (False, True):
                    self.free.setdefault((gpu_type.id, cloud, spot), self.config.free_gpus)

    def set_prices(self, gpu: str, **changes: Any) -> None:
        """Change fields of a GPU type, e.g. ``secure_spot_price=0.5, stock_status="Low"``."""
        with self._lock:
            self.gpu_types[gpu] = replace(self.gpu_types[gpu], **changes)

    def _spot_price(self, gpu: GpuType, cloud: str) -> float | None:
        if self.spot_withdrawn:
            return None
        return gpu.secure_spot_price if cloud == SECURE else gpu.community_spot_price

    @staticmethod
    def _price(gpu: GpuType, cloud: str) -> float | None:
        return gpu.secure_price if cloud == SECURE else gpu.community_price

    def _minimum_bid(self, gpu: GpuType, cloud: str) -> float | None:
        price = self._spot_price(gpu, cloud)
        if price is None:
            return None
        return gpu.minimum_bid if gpu.minimum_bid is not None else price

    # --- views (the GraphQL shapes) -------------------------------------------------

    def gpu_type_views(self, ids: list[str] | None) -> list[dict[str, Any]]:
        with self._lock:
            types = [g for g in self.gpu_types.values() if ids is None or g.id in ids]
            return [self._gpu_type_view(g) for g in types]

    def data_center_views(self) -> list[dict[str, Any]]:
        """One data centre per cloud, listing every GPU type with its stock there."""
        with self._lock:
            return [
                {
                    "id": _LOCATIONS[cloud],
                    "name": f"Stand-in {cloud.lower()} cloud",
                    "location": _LOCATIONS[cloud],
                    "gpuAvailability": [
                        {
                            "gpuTypeId": gpu.id,
                            "displayName": gpu.display_name,
                            "stockStatus": _stock(self.free[(gpu.id, cloud, False)]),
                        }
                        for gpu in self.gpu_types.values()
                    ],
                }
                for cloud in CLOUDS
            ]

    def _gpu_type_view(self, gpu: GpuType) -> dict[str, Any]:
        def lowest_price(_info: Any, input: Mapping[str, Any] | None = None) -> dict[str, Any]:
            return self._lowest_price(gpu.id, input or {})

        secure_spot = self._spot_price(gpu, SECURE)
        return {
            "id": gpu.id,
            "displayName": gpu.display_name,
            "manufacturer": gpu.manufacturer,
            "memoryInGb": gpu.memory_gb,
            "cudaCores": gpu.cuda_cores,
            "maxGpuCount": gpu.max_gpu_count,
            "secureCloud": gpu.secure_price is not None,
            "communityCloud": gpu.community_price is not None,
            "securePrice": gpu.secure_price,
            "communityPrice": gpu.community_price,
            "secureSpotPrice": secure_spot,
            "communitySpotPrice": self._spot_price(gpu, COMMUNITY),
            "oneWeekPrice": gpu.secure_price,
            "oneMonthPrice": gpu.secure_price,
            "threeMonthPrice": gpu.secure_price,
            "lowestPrice": lowest_price,
        }

    def _lowest_price(self, gpu_id: str, query: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            gpu = self.gpu_types[gpu_id]
            secure = query.get("secureCloud")
            clouds = CLOUDS if secure is None else ((SECURE,) if secure else (COMMUNITY,))
            prices = [p for c in clouds if (p := self._price(gpu, c)) is not None]
            bids = [b for c in clouds if (b := self._minimum_bid(gpu, c)) is not None]
            free = sum(self.free[(gpu_id, c, False)] for c in clouds)
            total = free + sum(
                p.gpu_count
                for p in self.pods.values()
                if p.holds_gpus and p.gpu_type.id == gpu_id and p.cloud in clouds
            )
            if gpu.stock_status is not None:
                stock: str | None = gpu.stock_status
            else:
                stock = _stock(free)
            count = max(1, int(query.get("gpuCount") or 1))
            return {
                "gpuName": gpu.display_name,
                "gpuTypeId": gpu.id,
                "minimumBidPrice": min(bids) if bids else None,
                "uninterruptablePrice": min(prices) if prices else None,
                "minMemory": 31 * count,
                "minVcpu": 8 * count,
                "stockStatus": stock,
                "rentedCount": total - free,
                "totalCount": total,
            }

    def pod_view(self, pod: Pod) -> dict[str, Any]:
        with self._lock:
            runtime = None
            now = self.clock.monotonic()
            port = pod.sshd.port
            if pod.status == RUNNING and pod.booted_mono is not None and port is not None:
                ports = []
                if pod.expose_ssh:
                    ports.append(
                        {
                            "ip": self.config.host if pod.public_ip else _PRIVATE_IP,
                            "isIpPublic": pod.public_ip,
                            "privatePort": 22,
                            "publicPort": port,
                            "type": "tcp",
                        }
                    )
                runtime = {
                    "uptimeInSeconds": int(now - pod.booted_mono),
                    "ports": ports,
                    "gpus": [
                        {"id": gpu_id, "gpuUtilPercent": 0, "memoryUtilPercent": 0}
                        for gpu_id in pod.gpu_ids
                    ],
                    "container": {"cpuPercent": 0, "memoryPercent": 1},
                }
            inputs = pod.create_input
            return {
                "id": pod.id,
                "name": pod.name,
                "desiredStatus": pod.status,
                "lastStatusChange": pod.last_status_change,
                "imageName": pod.image_name,
                "machineId": pod.machine_id,
                "costPerHr": pod.cost_per_hr,
                "adjustedCostPerHr": pod.cost_per_hr,
                "podType": "INTERRUPTABLE" if pod.spot else "RESERVED",
                "gpuCount": pod.gpu_count,
                "vcpuCount": 8.0 * pod.gpu_count,
                "memoryInGb": 31.0 * pod.gpu_count,
                "containerDiskInGb": inputs.get("containerDiskInGb"),
                "volumeInGb": inputs.get("volumeInGb") or 0,
                "volumeMountPath": inputs.get("volumeMountPath"),
                "dockerArgs": inputs.get("dockerArgs") or "",
                "dockerId": None,
                "env": [f"{k}={v}" for k, v in pod.env],
                "port": None,
                "ports": inputs.get("ports"),
                "uptimeSeconds": runtime["uptimeInSeconds"] if runtime else 0,
                "runtime": runtime,
                "machine": {
                    "podHostId": pod.pod_host_id,
                    "gpuDisplayName": pod.gpu_type.display_name,
                    "gpuAvailable": self.free.get((pod.gpu_type.id, pod.cloud, pod.spot), 0),
                    "location": pod.location,
                    "secureCloud": pod.cloud == SECURE,
                    "maintenanceStart": None,
                    "maintenanceEnd": None,
                    "maintenanceNote": None,
                },
            }

    def info(self, pod: Pod) -> PodInfo:
        with self._lock:
            return PodInfo(
                id=pod.id,
                name=pod.name,
                status=pod.status,
                spot=pod.spot,
                gpu_type_id=pod.gpu_type.id,
                gpu_count=pod.gpu_count,
                cloud=pod.cloud,
                cost_per_hr=pod.cost_per_hr,
                bid_per_gpu=pod.bid_per_gpu,
                create_operation=pod.create_operation,
                create_input=_deep_copy(pod.create_input),
                env=dict(pod.env),
                api_key=pod.api_key,
                ssh_port=pod.sshd.port,
                host_public_key=pod.sshd.host_public_key,
                created_at=pod.created_mono,
                ready_at=pod.booted_mono,
                first_connection_at=pod.sshd.first_connection_at,
                first_login_at=pod.sshd.first_login_at,
                ended_at=pod.ended_mono,
                ended_by=pod.ended_by,
                terminate_after=pod.terminate_after,
                events=tuple(pod.events),
            )

    # --- look-ups -------------------------------------------------------------------

    def get(self, pod_id: str) -> Pod | None:
        """A pod that has not been terminated."""
        with self._lock:
            pod = self.pods.get(pod_id)
            return pod if pod is not None and pod.status != TERMINATED else None

    def find(self, pod_id: str) -> Pod:
        """Any pod ever made, terminated or not."""
        with self._lock:
            pod = self.pods.get(pod_id)
        if pod is None:
            raise KeyError(f"the stand-in never made a pod {pod_id!r}")
        return pod

    def every(self) -> list[Pod]:
        with self._lock:
            return list(self.pods.values())

    def live(self) -> list[Pod]:
        with self._lock:
            return [p for p in self.pods.values() if p.status != TERMINATED]

    def principal(self, key: str) -> str | None:
        """ "account", "pod:<id>" for a live pod's own key, or None (unauthorized)."""
        if not key:
            return None
        if secrets.compare_digest(key, self.account_key):
            return "account"
        with self._lock:
            for pod in self.pods.values():
                if pod.status != TERMINATED and secrets.compare_digest(key, pod.api_key):
                    return f"pod:{pod.id}"
        return None

    # --- mutations ------------------------------------------------------------------

    def create(self, inputs: Mapping[str, Any], *, spot: bool, operation: str) -> Pod:
        count = inputs.get("gpuCount")
        count = 1 if count is None else int(count)
        if count < 1:
            raise CloudError("gpuCount must be at least 1", "BAD_USER_INPUT")
        raw_bid = inputs.get("bidPerGpu")
        bid = float(raw_bid) if raw_bid is not None else None
        # Making the host key takes a process; done before taking the lock so pod
        # queries are not held up by it.
        machine = self._machine(inputs, count)
        try:
            return self._place(inputs, machine, spot=spot, bid=bid, operation=operation)
        except BaseException:
            machine.sshd.remove()
            raise

    def _machine(self, inputs: Mapping[str, Any], count: int) -> _Machine:
        pod_id = random_id()
        while pod_id in self.pods:
            pod_id = random_id()
        env = _parse_env(inputs.get("env"))
        public_key = next((v for k, v in reversed(env) if k == "PUBLIC_KEY"), "")
        api_key = "rpa_POD_" + secrets.token_hex(20).upper()
        pod_host_id = f"{pod_id}-{secrets.randbelow(10**8):08d}"
        session_env = {
            "RUNPOD_API_KEY": api_key,
            "RUNPOD_PUBLIC_IP": self.config.host,
            "RUNPOD_GPU_COUNT": str(count),
            "RUNPOD_POD_HOSTNAME": pod_host_id,
            **self.session_env,
        }
        sshd = PodSshd(
            pod_id=pod_id,
            directory=self.pods_dir / pod_id,
            authorized_key=public_key,
            session_env=session_env,
            clock=self.clock,
            sshd_path=self.config.sshd_path,
            keygen_path=self.config.ssh_keygen_path,
            host=self.config.host,
        )
        return _Machine(pod_id, count, env, api_key, pod_host_id, sshd)

    def _place(
        self,
        inputs: Mapping[str, Any],
        machine: _Machine,
        *,
        spot: bool,
        bid: float | None,
        operation: str,
    ) -> Pod:
        """Find room for a pod in the first cloud that has it (under the lock)."""
        gpu_id, count = inputs.get("gpuTypeId"), machine.gpu_count
        cloud_type = inputs.get("cloudType") or "ALL"
        clouds = CLOUDS if cloud_type == "ALL" else (cloud_type,)
        no_room = NO_SPOT_INSTANCES if spot else NO_INSTANCES
        with self._lock:
            gpu = self.gpu_types.get(gpu_id) if isinstance(gpu_id, str) else None
            if gpu is None or count > gpu.max_gpu_count or (spot and self.spot_withdrawn):
                raise NoRoomError(no_room)
            too_low: float | None = None
            for cloud in clouds:
                price = self._spot_price(gpu, cloud) if spot else self._price(gpu, cloud)
                if price is None or self.free[(gpu.id, cloud, spot)] < count:
                    continue
                minimum = self._minimum_bid(gpu, cloud) if spot else None
                if minimum is not None and (bid is None or bid < minimum):
                    too_low = minimum if too_low is None else min(too_low, minimum)
                    continue
                return self._new_pod(
                    inputs, machine, gpu=gpu, cloud=cloud, spot=spot, bid=bid, operation=operation
                )
            if too_low is not None:
                raise CloudError(BID_TOO_LOW, "BID_TOO_LOW", bidPrice=bid, minimumBid=too_low)
            raise NoRoomError(no_room)

    def _new_pod(
        self,
        inputs: Mapping[str, Any],
        machine: _Machine,
        *,
        gpu: GpuType,
        cloud: str,
        spot: bool,
        bid: float | None,
        operation: str,
    ) -> Pod:
        pod_id, count = machine.pod_id, machine.gpu_count
        price = bid if spot and bid is not None else self._price(gpu, cloud) or 0.0
        ports = str(inputs.get("ports") or "")
        now = self.clock.now()
        pod = Pod(
            id=pod_id,
            name=str(inputs.get("name") or ""),
            image_name=str(inputs.get("imageName") or ""),
            gpu_type=gpu,
            gpu_count=count,
            cloud=cloud,
            spot=spot,
            bid_per_gpu=bid if spot else None,
            cost_per_hr=round(price * count, 4),
            create_operation=operation,
            create_input=_deep_copy(dict(inputs)),
            env=machine.env,
            api_key=machine.api_key,
            public_ip=cloud == SECURE or bool(inputs.get("supportPublicIp")),
            expose_ssh="22/tcp" in [p.strip() for p in ports.split(",")],
            machine_id=random_id(12),
            pod_host_id=machine.pod_host_id,
            location=str(inputs.get("dataCenterId") or _LOCATIONS[cloud]),
            created_at=now,
            created_mono=self.clock.monotonic(),
            sshd=machine.sshd,
            terminate_after=parse_time(inputs.get("terminateAfter")),
            stop_after=parse_time(inputs.get("stopAfter")),
            last_status_change=f"Rented by User: {_status_stamp(now)}",
            gpu_ids=[f"GPU-{uuid.uuid4()}" for _ in range(count)],
        )
        self.free[(gpu.id, cloud, spot)] -= count
        self.pods[pod_id] = pod
        self._event(pod, "created")
        self._boot(pod)
        return pod

    def stop(self, pod_id: str, *, by: str = "stop") -> Pod:
        with self._lock:
            pod = self.get(pod_id)
            if pod is None:
                raise CloudError("pod not found to stop")
            if pod.status != RUNNING:
                return pod
            self._halt(pod, EXITED, by)
        self._teardown(pod)
        return pod

    def preempt(self, pod_id: str) -> None:
        with self._lock:
            pod = self.get(pod_id)
            if pod is None:
                raise KeyError(f"no live pod {pod_id!r}")
            if pod.status != RUNNING:
                return
            self._halt(pod, EXITED, "preempted")
        self._teardown(pod)

    def terminate(self, pod_id: str, *, by: str = "api") -> None:
        with self._lock:
            pod = self.get(pod_id)
            if pod is None:
                raise CloudError(NOT_FOUND_TO_TERMINATE)
            self._halt(pod, TERMINATED, by)
        self._teardown(pod)

    def resume(self, pod_id: str, gpu_count: int | None) -> Pod:
        with self._lock:
            pod = self.get(pod_id)
            if pod is None:
                raise CloudError("pod not found to resume")
            if pod.spot:
                raise CloudError(SPOT_AS_ON_DEMAND)
            if pod.status == RUNNING:
                return pod
            self._take_back(pod, gpu_count, spot=False)
            return pod

    def bid_resume(self, pod_id: str, bid: float, gpu_count: int | None) -> Pod:
        with self._lock:
            pod = self.get(pod_id)
            if pod is None:
                raise CloudError("pod not found to resume")
            if not pod.spot:
                raise CloudError("Cannot resume an on demand pod as a spot pod.")
            if pod.status == RUNNING:
                return pod
            minimum = self._minimum_bid(pod.gpu_type, pod.cloud)
            if minimum is None:
                raise CloudError(NO_SPOT_INSTANCES)
            if bid < minimum:
                raise CloudError(BID_TOO_LOW, "BID_TOO_LOW", bidPrice=bid, minimumBid=minimum)
            pod.bid_per_gpu = bid
            self._take_back(pod, gpu_count, spot=True)
            pod.cost_per_hr = round(bid * pod.gpu_count, 4)
            return pod

    def _take_back(self, pod: Pod, gpu_count: int | None, *, spot: bool) -> None:
        count = pod.gpu_count if gpu_count is None else int(gpu_count)
        pool = (pod.gpu_type.id, pod.cloud, spot)
        if self.free[pool] < count:
            raise CloudError(NOT_ENOUGH_GPUS)
        self.free[pool] -= count
        pod.gpu_count = count
        pod.holds_gpus = True
        pod.status = RUNNING
        pod.generation += 1
        pod.booted_mono = None
        pod.last_status_change = f"Resumed by user: {_status_stamp(self.clock.now())}"
        self._event(pod, "resumed")
        self._boot(pod)

    def _halt(self, pod: Pod, status: str, by: str) -> None:
        """The state change of stop, preempt and terminate (under the lock)."""
        if pod.holds_gpus:
            self.free[(pod.gpu_type.id, pod.cloud, pod.spot)] += pod.gpu_count
            pod.holds_gpus = False
        pod.status = status
        pod.generation += 1
        pod.booted_mono = None
        stamp = _status_stamp(self.clock.now())
        pod.last_status_change = f"Exited by {by}: {stamp}"
        if status == TERMINATED:
            pod.ended_mono = self.clock.monotonic()
            pod.ended_by = by
        self._event(pod, f"{status.lower()} by {by}")

    def _teardown(self, pod: Pod) -> None:
        """What stopping a container does: sshd and every process of the pod die."""
        with pod.ssh_lock:
            pod.sshd.stop()
            kill_tagged_processes(pod.id, self.sweep_clock)

    def _event(self, pod: Pod, what: str) -> None:
        pod.events.append((self.clock.monotonic(), what))

    # --- boot and reaper --------------------------------------------------------------

    def _boot(self, pod: Pod) -> None:
        thread = threading.Thread(
            target=self._boot_thread,
            args=(pod, pod.generation),
            name=f"sim-boot-{pod.id}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _boot_thread(self, pod: Pod, generation: int) -> None:
        try:
            self.clock.sleep(self.config.boot_delay)
        except CancelledError:
            return
        with pod.ssh_lock:
            with self._lock:
                if pod.generation != generation:
                    return
            try:
                pod.sshd.start()
            except Exception as error:
                with self._lock:
                    self._event(pod, f"boot failed: {error}")
                self.on_error(error)
                return
            with self._lock:
                if pod.generation == generation and pod.status == RUNNING:
                    pod.booted_mono = self.clock.monotonic()
                    self._event(pod, f"booted, sshd on port {pod.sshd.port}")
                    return
            # Stopped or terminated while sshd was starting: undo the start.
            self._teardown(pod)

    def start(self) -> None:
        self._reaper.start()

    def _reap(self) -> None:
        while True:
            try:
                self.clock.sleep(0.05)
            except CancelledError:
                return
            now = self.clock.now()
            with self._lock:
                due = [
                    (pod.id, "terminateAfter")
                    for pod in self.live()
                    if pod.terminate_after is not None and pod.terminate_after <= now
                ] + [
                    (pod.id, "stopAfter")
                    for pod in self.live()
                    if pod.status == RUNNING
                    and pod.stop_after is not None
                    and pod.stop_after <= now
                    and (pod.terminate_after is None or pod.terminate_after > now)
                ]
            for pod_id, rule in due:
                try:
                    if rule == "terminateAfter":
                        self.terminate(pod_id, by=rule)
                    else:
                        self.stop(pod_id, by=rule)
                except CloudError:
                    pass  # ended by someone else in between
                except Exception as error:
                    self.on_error(error)

    def close(self) -> None:
        """End every pod (after the clock was cancelled, so nothing boots again)."""
        for pod in self.live():
            with contextlib.suppress(CloudError):  # ended meanwhile by someone else
                self.terminate(pod.id, by="stand-in")
        if self._reaper.is_alive():
            self._reaper.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=15)
        # A boot that was starting sshd while its pod ended cleans up after itself;
        # this last sweep covers one that could not finish.
        with self._lock:
            pods = list(self.pods.values())
        for pod in pods:
            self._teardown(pod)


def _stock(free: int) -> str | None:
    return "High" if free >= 8 else "Medium" if free >= 3 else "Low" if free else None


def _no_capacity_answer(answer: str) -> str:
    if answer not in NO_CAPACITY_ANSWERS:
        raise ValueError(f"no_capacity_answer must be one of {', '.join(NO_CAPACITY_ANSWERS)}")
    return answer


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time as RunPod takes it; a time without a zone is UTC."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

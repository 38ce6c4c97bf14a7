"""What a stand-in run looks like: timings, switches and the GPU catalogue it sells."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GpuType:
    """One GPU type with per-GPU hourly prices in USD; ``None`` means "not offered".

    ``minimum_bid`` and ``stock_status`` override what the stand-in would derive
    (the lowest spot price, and a status from free capacity), so a test can list
    stock that is not there, as RunPod sometimes does.
    """

    id: str
    display_name: str
    memory_gb: int
    secure_price: float | None
    community_price: float | None
    secure_spot_price: float | None
    community_spot_price: float | None
    max_gpu_count: int = 8
    cuda_cores: int = 0
    manufacturer: str = "Nvidia"
    minimum_bid: float | None = None
    stock_status: str | None = None


DEFAULT_GPU_TYPES: tuple[GpuType, ...] = (
    GpuType("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.69, 0.34, 0.35, 0.20, cuda_cores=16384),
    GpuType("NVIDIA RTX A6000", "RTX A6000", 48, 0.49, 0.33, 0.25, 0.19, cuda_cores=10752),
    GpuType("NVIDIA A100 80GB PCIe", "A100 PCIe", 80, 1.64, 1.19, 0.82, 0.60, cuda_cores=6912),
    GpuType("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 2.99, 2.69, 1.75, 1.50, cuda_cores=16896),
)


@dataclass(frozen=True)
class SimConfig:
    """Settings of one stand-in.

    ``boot_delay``: seconds from create (or resume) until the pod's sshd starts and
    ``runtime`` stops being null. ``runner_online_delay``: handed to the GitHub side
    for how long a started runner takes to show ``online``. ``rate_limit``: enforce
    the per-key budget on the RunPod API. ``spot``: whether spot is offered at all
    (False is the same as calling ``withdraw_spot()`` at start). ``free_gpus``: the
    free GPUs in every (type, cloud, spot/on-demand) pool at start. ``timeout_hold``:
    how long a ``timeout`` fault holds a connection unless the fault says otherwise.
    ``rate_limit_per_minute``/``rate_limit_per_second``: the budget when enforced.
    ``github``: mount the GitHub REST side and the runner release. ``owner``/``repo``:
    the repository the GitHub side knows. ``sshd_path``/``ssh_keygen_path``: OpenSSH.
    ``host``: the IPv4 address the APIs and the pods' sshd listen on and are reached at
    (a Docker container action reaches the host at the bridge's gateway, not at
    127.0.0.1). ``cert_names``: more names the HTTPS certificate is valid for.

    How the real API has changed, or answers, as switches (see ``Cloud``):
    ``spot_in_schema`` False is spot taken out of the GraphQL schema (RunPod said in
    April 2026 that ``podRentInterruptable`` "is being removed"): asking for it, or for
    the spot price fields, is HTTP 400 GRAPHQL_VALIDATION_FAILED.
    ``spot_terminate_after`` False is ``PodRentInterruptableInput`` without
    ``terminateAfter`` (no official source shows the field there).
    ``no_capacity_answer``: how a create with no room is answered: ``"message"``
    (errors[] with RunPod's words), ``"null"`` (the mutation's field null, no errors)
    or ``"supply_constraint"`` (``extensions.code: SUPPLY_CONSTRAINT``).
    """

    tls: bool = True
    boot_delay: float = 1.0
    runner_online_delay: float = 0.5
    rate_limit: bool = False
    rate_limit_per_minute: int = 100
    rate_limit_per_second: int = 10
    spot: bool = True
    spot_in_schema: bool = True
    spot_terminate_after: bool = True
    no_capacity_answer: str = "message"
    free_gpus: int = 8
    timeout_hold: float = 60.0
    github: bool = True
    owner: str = "octo-org"
    repo: str = "gpu-ci"
    gpu_types: tuple[GpuType, ...] = field(default=DEFAULT_GPU_TYPES)
    host: str = "127.0.0.1"
    cert_names: tuple[str, ...] = ()
    sshd_path: str = "/usr/sbin/sshd"
    ssh_keygen_path: str = "/usr/bin/ssh-keygen"

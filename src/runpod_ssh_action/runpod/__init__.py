"""RunPod's GraphQL API: the client, its typed objects and its errors."""

from .client import DEFAULT_URL, RunPodClient
from .models import Account, GpuType, Pod, PodGpu, PodSpec, PortMapping, SshEndpoint

__all__ = [
    "DEFAULT_URL",
    "Account",
    "GpuType",
    "Pod",
    "PodGpu",
    "PodSpec",
    "PortMapping",
    "RunPodClient",
    "SshEndpoint",
]

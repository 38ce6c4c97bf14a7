"""Every GraphQL document the client sends.

Documents are constant text: every value travels in ``variables``, so a hostile pod
name or id can never change a query. The only generated document is the batched pod
read, and it is built from alias numbers alone. Tests validate each one against the
SDL in ``runpod_ssh_action.sim``.
"""

from __future__ import annotations

_MACHINE = "machine { podHostId gpuDisplayName location }"

# What a create, resume or stop answers with (no runtime yet at that point).
POD_SUMMARY = f"id name desiredStatus costPerHr imageName machineId gpuCount podType {_MACHINE}"

POD_DETAIL = (
    f"{POD_SUMMARY} runtime {{ uptimeInSeconds "
    "ports { ip isIpPublic privatePort publicPort type } "
    "gpus { id gpuUtilPercent memoryUtilPercent } }"
)

MYSELF = "query myself { myself { id email } }"

LIST_PODS = f"query listPods {{ myself {{ pods {{ {POD_DETAIL} }} }} }}"

POD = f"query pod($podId: String!) {{ pod(input: {{podId: $podId}}) {{ {POD_DETAIL} }} }}"

CREATE_SPOT = (
    "mutation podRentInterruptable($input: PodRentInterruptableInput!) "
    f"{{ podRentInterruptable(input: $input) {{ {POD_SUMMARY} }} }}"
)

CREATE_ON_DEMAND = (
    "mutation podFindAndDeployOnDemand($input: PodFindAndDeployOnDemandInput!) "
    f"{{ podFindAndDeployOnDemand(input: $input) {{ {POD_SUMMARY} }} }}"
)

RESUME = (
    "mutation podResume($input: PodResumeInput!) "
    f"{{ podResume(input: $input) {{ {POD_SUMMARY} }} }}"
)

BID_RESUME = (
    "mutation podBidResume($input: PodBidResumeInput!) "
    f"{{ podBidResume(input: $input) {{ {POD_SUMMARY} }} }}"
)

STOP = f"mutation podStop($input: PodStopInput!) {{ podStop(input: $input) {{ {POD_SUMMARY} }} }}"

# podTerminate returns null: it takes no selection set.
TERMINATE = "mutation podTerminate($input: PodTerminateInput!) { podTerminate(input: $input) }"

GPU_TYPES = (
    "query gpuTypes($input: GpuTypeFilter, $lowestPrice: GpuLowestPriceInput) "
    "{ gpuTypes(input: $input) { id displayName memoryInGb secureCloud communityCloud "
    "securePrice communityPrice secureSpotPrice communitySpotPrice maxGpuCount "
    "lowestPrice(input: $lowestPrice) { minimumBidPrice uninterruptablePrice stockStatus } } }"
)

# The same without the spot fields, once RunPod's schema has dropped them.
GPU_TYPES_NO_SPOT = (
    "query gpuTypes($input: GpuTypeFilter, $lowestPrice: GpuLowestPriceInput) "
    "{ gpuTypes(input: $input) { id displayName memoryInGb secureCloud communityCloud "
    "securePrice communityPrice maxGpuCount "
    "lowestPrice(input: $lowestPrice) { uninterruptablePrice stockStatus } } }"
)


def pod_alias(index: int) -> str:
    return f"p{index}"


def pods_query(count: int) -> str:
    """One query reading ``count`` pods, aliased p0, p1, ... with variables $p0, $p1, ..."""
    if count < 1:
        raise ValueError("pods_query needs at least one pod")
    aliases = [pod_alias(i) for i in range(count)]
    params = ", ".join(f"${a}: String!" for a in aliases)
    fields = " ".join(f"{a}: pod(input: {{podId: ${a}}}) {{ {POD_DETAIL} }}" for a in aliases)
    return f"query pods({params}) {{ {fields} }}"

"""Fidelity: the operations RunPod's own CLI sends are accepted by the stand-in.

runpodctl (github.com/runpod/runpodctl) was written against the real API, so a query
of its that the stand-in refuses is a stand-in bug. The operations below carry the
same root fields, arguments, variable types and selections as runpodctl's, each
citing the file it is in; answers are the stand-in's own plausible data.
"""

from __future__ import annotations

from typing import Any

import pytest
from standin_client import GPU, GraphQL

from runpod_ssh_action.sim import StandIn

# internal/api/graphql.go GetPublicSSHKeys; api/user.go GetPublicSSHKeys.
MYSELF = "query myself { myself { id pubKey } }"

# internal/api/gpu.go GetUser.
GET_USER = (
    "query { myself { id email clientBalance currentSpendPerHr spendLimit "
    "notifyPodsStale notifyPodsGeneral notifyLowBalance } }"
)

# internal/api/gpu.go ListDataCenters.
DATA_CENTERS = (
    "query { dataCenters { id name location "
    "gpuAvailability { gpuTypeId displayName stockStatus } } }"
)

# internal/api/gpu.go ListGpuTypes.
GPU_TYPES = "query { gpuTypes { id displayName memoryInGb secureCloud communityCloud } }"

# api/cloud.go GetCloud (its input struct GetCloudInput sends totalDisk too).
LOWEST_PRICE = (
    "query LowestPrice($input: GpuLowestPriceInput!) { gpuTypes { lowestPrice(input: $input) "
    "{ gpuName gpuTypeId minimumBidPrice uninterruptablePrice minMemory minVcpu } } }"
)

# api/volume.go and internal/api/graphql.go GetNetworkVolumes.
NETWORK_VOLUMES = (
    "query getNetworkVolumes { myself { networkVolumes { dataCenterId id name size } } }"
)

# api/pod.go GetPods (note the alias PortType).
MY_PODS_LEGACY = (
    "query myPods { myself { pods { id containerDiskInGb costPerHr desiredStatus dockerArgs "
    "dockerId env gpuCount imageName lastStatusChange machineId memoryInGb name podType port "
    "ports uptimeSeconds vcpuCount volumeInGb volumeMountPath machine { gpuDisplayName "
    "location } runtime { ports { ip isIpPublic privatePort publicPort PortType: type } } } } }"
)

# internal/api/graphql.go GetPods.
MY_PODS = (
    "query myPods { myself { pods { id containerDiskInGb costPerHr desiredStatus "
    "lastStatusChange uptimeSeconds dockerArgs env gpuCount imageName memoryInGb name podType "
    "ports vcpuCount volumeInGb volumeMountPath machine { gpuDisplayName location } "
    "runtime { ports { ip isIpPublic privatePort publicPort type } } } } }"
)

# internal/api/graphql.go CreatePod (input CreatePodGQLInput).
CREATE_POD = (
    "mutation createPod($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand("
    "input: $input) { id name imageName desiredStatus costPerHr containerDiskInGb volumeInGb "
    "volumeMountPath gpuCount memoryInGb vcpuCount ports lastStatusChange env "
    "machine { gpuDisplayName location } } }"
)

# api/pod.go StopPod, RemovePod, StartOnDemandPod, StartSpotPod.
STOP_POD = (
    "mutation stopPod($podId: String!) { podStop(input: {podId:  $podId}) "
    "{ id desiredStatus lastStatusChange } }"
)
RESUME_POD = (
    "mutation podResume($podId: String!) { podResume(input: {podId: $podId}) "
    "{ id costPerHr desiredStatus lastStatusChange } }"
)
BID_RESUME_POD = (
    "mutation Mutation($podId: String!, $bidPerGpu: Float!, $gpuCount: Int!) { "
    "podBidResume(input: {podId: $podId, bidPerGpu: $bidPerGpu, gpuCount: $gpuCount}) "
    "{ id costPerHr desiredStatus lastStatusChange } }"
)
TERMINATE_POD = "mutation terminatePod($podId: String!) { podTerminate(input: {podId:  $podId}) }"


def accepted(gql: GraphQL, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = gql.post(query, variables)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "errors" not in payload, payload
    return payload["data"]


@pytest.mark.parametrize(
    "query", [MYSELF, GET_USER, DATA_CENTERS, GPU_TYPES, NETWORK_VOLUMES, MY_PODS_LEGACY, MY_PODS]
)
def test_runpodctl_reads_are_accepted(gql: GraphQL, query: str) -> None:
    assert accepted(gql, query)


def test_runpodctl_get_user_and_data_centers_answer_plausibly(gql: GraphQL) -> None:
    user = accepted(gql, GET_USER)["myself"]
    assert isinstance(user["clientBalance"], float) and user["spendLimit"] > 0
    centers = accepted(gql, DATA_CENTERS)["dataCenters"]
    assert centers and GPU in {g["gpuTypeId"] for c in centers for g in c["gpuAvailability"]}


def test_runpodctl_cloud_listing_sends_total_disk(gql: GraphQL) -> None:
    variables = {"input": {"gpuCount": 1, "secureCloud": None, "totalDisk": 20}}
    prices = accepted(gql, LOWEST_PRICE, variables)["gpuTypes"]
    assert GPU in {p["lowestPrice"]["gpuTypeId"] for p in prices}


def test_runpodctl_pod_lifecycle_is_accepted(gql: GraphQL, sim: StandIn) -> None:
    create_input = {
        "cloudType": "SECURE",
        "containerDiskInGb": 20,
        "gpuCount": 1,
        "gpuTypeId": GPU,
        "imageName": "runpod/base:0.6.2",
        "name": "runpodctl-pod",
        "ports": "22/tcp",
        "startSsh": True,
        "containerRegistryAuthId": "auth-1",
        "compliance": ["GDPR"],
        "terminateAfter": "2099-01-01T00:00:00Z",
    }
    pod = accepted(gql, CREATE_POD, {"input": create_input})["podFindAndDeployOnDemand"]
    assert pod["name"] == "runpodctl-pod" and pod["desiredStatus"] == "RUNNING"
    assert sim.pod(pod["id"]).create_input["containerRegistryAuthId"] == "auth-1"
    listed = accepted(gql, MY_PODS)["myself"]["pods"]
    assert [p["id"] for p in listed] == [pod["id"]]
    variables = {"podId": pod["id"]}
    assert accepted(gql, STOP_POD, variables)["podStop"]["desiredStatus"] == "EXITED"
    assert accepted(gql, RESUME_POD, variables)["podResume"]["id"] == pod["id"]
    assert accepted(gql, TERMINATE_POD, variables) == {"podTerminate": None}


def test_runpodctl_spot_resume_is_accepted(gql: GraphQL, sim: StandIn) -> None:
    pod = gql.create(spot=True, bidPerGpu=0.35)
    variables = {"podId": pod["id"]}
    accepted(gql, STOP_POD, variables)
    resumed = accepted(gql, BID_RESUME_POD, {**variables, "bidPerGpu": 0.36, "gpuCount": 1})
    assert resumed["podBidResume"]["id"] == pod["id"]
    accepted(gql, TERMINATE_POD, variables)

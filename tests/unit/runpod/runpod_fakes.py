"""A scripted RunPod for the client's tests.

``FakeRunPod`` answers every POST to the test endpoint from a queue of replies, after
checking the request the way RunPod would: the document must validate against the
project's SDL and the variables must coerce to the declared types (so an input field
in the wrong casing fails here). It also keeps the pods it "has", so a reply can
create a pod and then lose the answer.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import requests
import responses
from graphql import OperationDefinitionNode, build_schema, parse, validate
from graphql.execution.values import get_variable_values

from runpod_ssh_action.runpod import PodSpec

URL = "https://api.runpod.test/graphql"
API_KEY = "rpa_TESTKEY0123456789abcdefSECRET"

SCHEMA = build_schema(files("runpod_ssh_action.sim").joinpath("runpod.graphql").read_text())


def check_document(query: str, variables: dict[str, Any] | None = None) -> OperationDefinitionNode:
    """Fail unless ``query`` validates against the SDL (and ``variables`` coerce)."""
    document = parse(query)
    errors = validate(SCHEMA, document)
    assert not errors, [e.message for e in errors]
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if variables is not None:
        coerced = get_variable_values(SCHEMA, operation.variable_definitions, variables)
        assert not isinstance(coerced, list), [e.message for e in coerced]
    return operation


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sent:
    root: str
    query: str
    variables: dict[str, Any]
    headers: dict[str, str]


def api_pod(pod_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": pod_id,
        "name": name,
        "desiredStatus": "RUNNING",
        "costPerHr": 0.44,
        "imageName": "runpod/base:0.6",
        "machineId": "m-1",
        "gpuCount": 1,
        "podType": "INTERRUPTABLE",
        "machine": {"podHostId": f"{pod_id}-host", "gpuDisplayName": "RTX 4090", "location": "CZ"},
        "runtime": None,
        **extra,
    }


def gql_error(message: str, code: str | None = None, **extensions: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if code or extensions:
        error["extensions"] = {**({"code": code} if code else {}), **extensions}
    return {"data": None, "errors": [error]}


class FakeRunPod:
    def __init__(self, rsps: responses.RequestsMock):
        self.replies: deque[Any] = deque()
        self.sent: list[Sent] = []
        self.pods: dict[str, dict[str, Any]] = {}
        self._ids = iter(f"pod{i:03d}" for i in range(1000))
        rsps.add_callback(responses.POST, URL, callback=self._handle)

    def reply(self, *items: Any) -> None:
        self.replies.extend(items)

    def roots(self) -> list[str]:
        return [s.root for s in self.sent]

    # Reply builders that act on the fake's own pods.
    def create(self, then: Any = None) -> Callable[[dict[str, Any]], Any]:
        """Create the pod the request asks for; answer ``then`` (default: the pod)."""

        def act(body: dict[str, Any]) -> Any:
            data = body["variables"]["input"]
            pod = api_pod(next(self._ids), data["name"])
            self.pods[pod["id"]] = pod
            if then is not None:
                return then
            root = "podRentInterruptable" if "bidPerGpu" in data else "podFindAndDeployOnDemand"
            return {"data": {root: pod}}

        return act

    def listing(self) -> Callable[[dict[str, Any]], Any]:
        return lambda body: {"data": {"myself": {"pods": list(self.pods.values())}}}

    def _handle(self, request: requests.PreparedRequest) -> Any:
        assert request.body is not None
        body = json.loads(request.body)
        operation = check_document(body["query"], body.get("variables") or {})
        root = operation.selection_set.selections[0].name.value
        self.sent.append(
            Sent(root, body["query"], body.get("variables") or {}, dict(request.headers))
        )
        assert self.replies, f"no reply scripted for {root}"
        item = self.replies.popleft()
        if callable(item):
            item = item(body)
        if isinstance(item, Exception):
            return item
        if not isinstance(item, Reply):
            item = Reply(item)
        text = item.body if isinstance(item.body, str) else json.dumps(item.body)
        return (item.status, item.headers, text)


# Every create field set, so a field RunPod does not know fails the SDL check.
FULL_SPEC = PodSpec(
    name="rp-gh-123-1-0",
    image_name="runpod/base:0.6.2",
    gpu_type_id="NVIDIA GeForce RTX 4090",
    gpu_count=2,
    cloud_type="COMMUNITY",
    container_disk_in_gb=20,
    volume_in_gb=0,
    volume_mount_path="/workspace",
    network_volume_id="vol-1",
    ports="22/tcp",
    env={"PUBLIC_KEY": "ssh-ed25519 AAAAkey"},
    docker_args="",
    template_id="tpl-1",
    start_ssh=True,
    support_public_ip=True,
    data_center_id="EU-CZ-1",
    country_code="CZ",
    min_vcpu_count=4,
    min_memory_in_gb=16,
    allowed_cuda_versions=("12.4", "12.6"),
    min_cuda_version="12.4",
    stop_after=datetime(2026, 1, 1, 1, tzinfo=UTC),
    terminate_after=datetime(2026, 1, 1, 2, tzinfo=UTC),
)

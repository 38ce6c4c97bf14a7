"""A bare RunPod GraphQL client and SSH helpers for the stand-in's tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from runpod_ssh_action.sim import StandIn

GPU = "NVIDIA RTX A6000"

# The input type of each root field that takes one, as the SDL declares it.
INPUT_TYPES = {
    "pod": "PodFilter!",
    "podRentInterruptable": "PodRentInterruptableInput!",
    "podFindAndDeployOnDemand": "PodFindAndDeployOnDemandInput",
    "podResume": "PodResumeInput!",
    "podBidResume": "PodBidResumeInput!",
    "podStop": "PodStopInput!",
    "podTerminate": "PodTerminateInput!",
}


@dataclass
class SshKey:
    private: Path
    public: str


class GraphQL:
    """A RunPod client that is nothing but requests: what the test sends is what
    the stand-in gets. A fresh session per test keeps CAs from piling up."""

    def __init__(self, sim: StandIn):
        self.sim = sim
        self.session = requests.Session()

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        timeout: float = 30,
        **kwargs: Any,
    ) -> requests.Response:
        key = self.sim.runpod_api_key if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        # verify= on each call: requests lets REQUESTS_CA_BUNDLE in the environment
        # override a session's own setting.
        return self.session.post(
            self.sim.runpod_url,
            json=body,
            headers=headers,
            verify=self.sim.ca_bundle or True,
            timeout=timeout,
            **kwargs,
        )

    def call(
        self, field: str, inputs: dict[str, Any], selection: str = "id", **kwargs: Any
    ) -> requests.Response:
        """One root field with its ``input`` passed as a variable."""
        kind = "query" if field == "pod" else "mutation"
        selected = f" {{ {selection} }}" if selection else ""
        query = f"{kind} Call($input: {INPUT_TYPES[field]}) {{ {field}(input: $input){selected} }}"
        return self.post(query, {"input": inputs}, **kwargs)

    def call_data(
        self, field: str, inputs: dict[str, Any], selection: str = "id", **kwargs: Any
    ) -> Any:
        response = self.call(field, inputs, selection, **kwargs)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert "errors" not in payload, payload
        return payload["data"][field]

    def call_error(
        self, field: str, inputs: dict[str, Any], selection: str = "id", **kwargs: Any
    ) -> dict[str, Any]:
        """The one error a call is answered with (HTTP 200, as RunPod sends them)."""
        response = self.call(field, inputs, selection, **kwargs)
        assert response.status_code == 200, response.text
        errors = response.json().get("errors")
        assert errors and len(errors) == 1, response.text
        return dict(errors[0])

    def data(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        response = self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert "errors" not in payload, payload
        return payload["data"]

    def errors(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Any]:
        response = self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        errors = response.json().get("errors")
        assert errors, response.text
        return list(errors)

    def create(self, public_key: str = "", *, spot: bool = False, **fields: Any) -> dict[str, Any]:
        """Create a pod the way the action does; returns the create answer."""
        inputs: dict[str, Any] = {
            "name": "rpa-test-1",
            "imageName": "runpod/base:0.6.2",
            "gpuTypeId": GPU,
            "gpuCount": 1,
            "cloudType": "ALL",
            "ports": "22/tcp",
            "startSsh": True,
            "supportPublicIp": True,
            "env": [{"key": "PUBLIC_KEY", "value": public_key}],
            **fields,
        }
        field = "podFindAndDeployOnDemand"
        if spot:
            inputs.setdefault("bidPerGpu", 0.30)
            field = "podRentInterruptable"
        selection = (
            "id name desiredStatus costPerHr podType machine { podHostId location } "
            "runtime { uptimeInSeconds }"
        )
        return dict(self.call_data(field, inputs, selection))

    def pod(self, pod_id: str, **kwargs: Any) -> Any:
        selection = (
            "id desiredStatus runtime { ports { ip isIpPublic privatePort publicPort type } }"
        )
        return self.call_data("pod", {"podId": pod_id}, selection, **kwargs)

    def terminate(self, pod_id: str, **kwargs: Any) -> requests.Response:
        return self.call("podTerminate", {"podId": pod_id}, "", **kwargs)

    def ssh_port(self, pod_id: str, timeout: float = 20) -> int:
        """Poll the pod until port 22 is published, as the action does."""
        found: list[int] = []

        def published() -> bool:
            runtime = (self.pod(pod_id) or {}).get("runtime")
            for port in (runtime or {}).get("ports") or []:
                if port["privatePort"] == 22 and port["isIpPublic"]:
                    found.append(port["publicPort"])
            return bool(found)

        assert self.sim.wait_for(published, timeout), self.sim.sshd_log(pod_id)
        return found[0]


def ssh(
    key: SshKey,
    port: int,
    command: str,
    *,
    user: str,
    known_hosts: Path,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-i",
            str(key.private),
            "-p",
            str(port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "ConnectTimeout=10",
            f"{user}@127.0.0.1",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting for its reaper counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"

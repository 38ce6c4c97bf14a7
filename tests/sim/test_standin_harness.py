"""The ``StandIn`` harness: the action's environment, the GitHub mount, its guards."""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from standin_client import GraphQL

from runpod_ssh_action.errors import ActionError
from runpod_ssh_action.sim import Fault, SimConfig, StandIn, StandInError
from runpod_ssh_action.transport import spki_pin


def test_action_env_gives_inputs_as_github_does(sim: StandIn, tmp_path: Path) -> None:
    env = sim.action_env(mode="start", gpu_type="NVIDIA RTX A6000", spot=True)
    assert env["INPUT_MODE"] == "start"
    assert env["INPUT_GPU-TYPE"] == "NVIDIA RTX A6000"
    assert env["INPUT_SPOT"] == "true"
    assert env["INPUT_RUNPOD-API-KEY"] == sim.runpod_api_key
    assert env["INPUT_GITHUB-APP-ID"] == str(sim.app_id)
    assert env["INPUT_GITHUB-APP-PRIVATE-KEY"] == sim.app_private_key_pem
    # The runner comes from the stand-in's releases/latest, as the action's default does.
    assert "INPUT_RUNNER-DOWNLOAD-URL" not in env and "INPUT_RUNNER-SHA256" not in env
    assert env["GITHUB_REPOSITORY"] == sim.repo == "octo-org/gpu-ci"
    assert env["GITHUB_API_URL"] == sim.github_api_url
    assert env["RUNPOD_GRAPHQL_URL"] == sim.runpod_url
    assert env["REQUESTS_CA_BUNDLE"] == sim.ca_bundle
    for name in ("GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"):
        path = Path(env[name])
        assert path.is_file() and path.read_text() == ""
    assert Path(env["RUNNER_TEMP"]).is_dir() and Path(env["HOME"]).is_dir()
    assert Path(env["HOME"]).is_relative_to(sim.workdir)

    again = sim.action_env(github_app_id=None, github_app_private_key=None, github_token=sim.pat)
    assert again["GITHUB_RUN_ID"] != env["GITHUB_RUN_ID"]
    assert again["GITHUB_OUTPUT"] != env["GITHUB_OUTPUT"]
    assert "INPUT_GITHUB-APP-ID" not in again and "INPUT_GITHUB-APP-PRIVATE-KEY" not in again
    assert again["INPUT_GITHUB-TOKEN"] == sim.pat
    given = sim.action_env(run_id=42, run_attempt=2)
    assert (given["GITHUB_RUN_ID"], given["GITHUB_RUN_ATTEMPT"]) == ("42", "2")


def test_the_runner_release_downloads_through_the_github_side(sim: StandIn) -> None:
    response = requests.get(sim.runner_download_url, verify=sim.ca_bundle, timeout=30)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == sim.runner_sha256
    assert sim.runner_version in sim.runner_download_url
    assert {r.api for r in sim.requests()} == {"runner"}
    assert all(r.operation.startswith("release/") for r in sim.requests())


def test_faults_reach_github_operations(sim: StandIn) -> None:
    operation = "apps/get-repo-installation"
    sim.faults.add(operation, Fault.status(502), Fault.reset_before())
    url = f"{sim.github_api_url}/repos/{sim.repo}/installation"
    assert requests.get(url, verify=sim.ca_bundle, timeout=30).status_code == 502
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, verify=sim.ca_bundle, timeout=30)
    # Served by the GitHub side again: without a JWT it is refused as GitHub does.
    assert requests.get(url, verify=sim.ca_bundle, timeout=30).status_code == 401
    records = sim.requests(api="github", operation=operation)
    assert [(r.status, r.fault) for r in records] == [
        (502, "status"),
        (None, "reset_before"),
        (401, None),
    ]


def test_plain_http_for_the_demo(make_sim: Callable[..., StandIn]) -> None:
    sim = make_sim(tls=False)
    assert sim.runpod_url.startswith("http://127.0.0.1:")
    assert sim.github_api_url.startswith("http://127.0.0.1:")
    assert sim.ca_bundle is None and sim.spki_pin is None
    assert "REQUESTS_CA_BUNDLE" not in sim.action_env()
    assert GraphQL(sim).data("{ myself { id } }")["myself"]["id"]


def test_the_server_key_pin_matches_what_the_server_presents(sim: StandIn) -> None:
    context = ssl.create_default_context(cafile=sim.ca_bundle)
    port = int(sim.runpod_base_url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert der is not None and spki_pin(der) == sim.spki_pin


def test_a_bug_in_the_stand_in_fails_the_test_that_met_it(
    sim: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ids: list[str] | None) -> list[dict[str, object]]:
        raise ZeroDivisionError("stand-in bug")

    monkeypatch.setattr(sim.cloud, "gpu_type_views", broken)
    GraphQL(sim).post("{ gpuTypes { id } }")
    with pytest.raises(StandInError, match="ZeroDivisionError"):
        sim.close()


def test_a_missing_sshd_is_a_clear_error(tmp_path: Path) -> None:
    config = SimConfig(sshd_path=str(tmp_path / "no-sshd"))
    with pytest.raises(ActionError) as caught, StandIn(config, workdir=tmp_path):
        pass
    assert caught.value.code == "SIM_NO_SSHD"
    assert "openssh-server" in str(caught.value)

"""Fidelity: RunPod's own Python SDK, unchanged, works against the stand-in.

Its query strings were written against the real API, so each one the stand-in
accepts (schema validation included) and answers in the shape the SDK reads is
evidence that the stand-in speaks RunPod's dialect.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from standin_client import GPU, SshKey, ssh

from runpod_ssh_action.sim import StandIn

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("runpod") is None,
    reason="RunPod's SDK is not installed (pip install runpod) and tests run offline",
)


def test_the_official_sdk_runs_unchanged_against_the_stand_in(
    sim: StandIn, ssh_key: SshKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpod
    from runpod.api import ctl_commands

    monkeypatch.setenv("RUNPOD_API_BASE_URL", sim.runpod_base_url)
    assert sim.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_bundle)
    monkeypatch.setattr(runpod, "api_key", sim.runpod_api_key)

    gpus = ctl_commands.get_gpus()
    assert GPU in {g["id"] for g in gpus}
    gpu = ctl_commands.get_gpu(GPU, 2)
    assert gpu["id"] == GPU and gpu["lowestPrice"]["uninterruptablePrice"] == 0.33

    created = ctl_commands.create_pod(
        "sdk-pod",
        "runpod/base:0.6.2",
        GPU,
        ports="22/tcp",
        env={"PUBLIC_KEY": ssh_key.public},
    )
    pod_id = created["id"]
    assert created["machine"]["podHostId"].startswith(pod_id)
    assert f"PUBLIC_KEY={ssh_key.public}" in created["env"]
    assert sim.pod(pod_id).create_input["startSsh"] is True

    assert sim.wait_for(lambda: ctl_commands.get_pod(pod_id)["runtime"] is not None, timeout=30)
    pod = ctl_commands.get_pod(pod_id)
    (port,) = pod["runtime"]["ports"]
    assert port["privatePort"] == 22 and port["isIpPublic"]
    result = ssh(
        ssh_key,
        port["publicPort"],
        "true",
        user=sim.ssh_user,
        known_hosts=tmp_path / "known_hosts",
    )
    assert result.returncode == 0, result.stderr
    assert [p["id"] for p in ctl_commands.get_pods()] == [pod_id]

    ctl_commands.terminate_pod(pod_id)
    assert ctl_commands.get_pod(pod_id) is None
    assert ctl_commands.get_pods() == []
    with pytest.raises(runpod.error.QueryError, match="pod not found to terminate"):
        ctl_commands.terminate_pod(pod_id)
    # Every call the SDK made passed schema validation.
    assert {r.status for r in sim.requests(api="runpod")} == {200}


def test_the_sdk_reports_a_wrong_key_as_an_authentication_error(
    sim: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpod
    from runpod.api import ctl_commands

    monkeypatch.setenv("RUNPOD_API_BASE_URL", sim.runpod_base_url)
    assert sim.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_bundle)
    monkeypatch.setattr(runpod, "api_key", "rpa_NOTAKEY")
    with pytest.raises(runpod.error.AuthenticationError):
        ctl_commands.get_pods()


def test_the_sdk_asks_for_a_cpu_pod_with_deploy_cpu_pod(
    sim: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpod
    from runpod.api import ctl_commands

    monkeypatch.setenv("RUNPOD_API_BASE_URL", sim.runpod_base_url)
    assert sim.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_bundle)
    monkeypatch.setattr(runpod, "api_key", sim.runpod_api_key)

    # No GPU type: the SDK sends deployCpuPod (runpod/api/mutations/pods.py). The
    # stand-in sells GPUs only, so it answers with RunPod's no-capacity words, after
    # the document passed validation.
    with pytest.raises(runpod.error.QueryError, match="no longer any instances available"):
        ctl_commands.create_pod("sdk-cpu", "runpod/base:0.6.2", instance_id="cpu3c-2-4")
    (record,) = sim.requests(operation="deployCpuPod")
    assert record.status == 200
    assert sim.all_pods() == []

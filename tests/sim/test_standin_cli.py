"""``python -m runpod_ssh_action.sim serve`` starts, serves and cleans up on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from standin_client import SshKey, process_alive, ssh

STARTUP_LIMIT = 60.0


def _wait_for_file(path: Path, process: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_LIMIT
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the stand-in never wrote its port file"
        time.sleep(0.05)
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def _published_port(session: requests.Session, info: dict[str, Any], pod_id: str) -> int:
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        pods = session.get(
            info["admin_url"] + "/pods",
            headers={"X-Sim-Admin-Token": info["admin_token"]},
            verify=info["ca_bundle"],
            timeout=30,
        ).json()
        (pod,) = [p for p in pods if p["id"] == pod_id]
        if pod["ready_at"] is not None:
            return int(pod["ssh_port"])
        assert time.monotonic() < deadline, pod
        time.sleep(0.05)


def _refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(5)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_serve_prints_env_serves_and_ends_pods_on_sigterm(tmp_path: Path, ssh_key: SshKey) -> None:
    port_file = tmp_path / "standin.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runpod_ssh_action.sim",
            "serve",
            "--tls",
            "--boot-delay",
            "0",
            "--port-file",
            str(port_file),
            "--workdir",
            str(tmp_path / "work"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = _wait_for_file(port_file, process)
        url = info["runpod_url"]
        session = requests.Session()
        created = session.post(
            url,
            json={
                "query": "mutation C($input: PodFindAndDeployOnDemandInput) "
                "{ podFindAndDeployOnDemand(input: $input) { id } }",
                "variables": {
                    "input": {
                        "gpuTypeId": "NVIDIA RTX A6000",
                        "ports": "22/tcp",
                        "env": [{"key": "PUBLIC_KEY", "value": ssh_key.public}],
                    }
                },
            },
            headers={"Authorization": f"Bearer {info['env']['INPUT_RUNPOD_API_KEY']}"},
            verify=info["ca_bundle"],
            timeout=30,
        )
        assert created.status_code == 200, created.text
        pod_id = created.json()["data"]["podFindAndDeployOnDemand"]["id"]
        port = _published_port(session, info, pod_id)
        started = ssh(
            ssh_key,
            port,
            "nohup sleep 1000 >/dev/null 2>&1 & echo $!",
            user=info["env"]["SIM_SSH_USER"],
            known_hosts=tmp_path / "known_hosts",
        )
        assert started.returncode == 0, started.stderr
        left_running = int(started.stdout)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "export RUNPOD_API_KEY=" in stdout and "GITHUB_ACTIONS" not in stdout
    assert f"export RUNPOD_GRAPHQL_URL={url}" in stdout
    assert not process_alive(left_running)
    assert _refuses(port)
    assert _refuses(int(url.rsplit(":", 1)[1].split("/", 1)[0]))

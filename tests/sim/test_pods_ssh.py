"""Pods are real OpenSSH servers: log in, see RunPod's variables, and die for real."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from standin_client import GraphQL, SshKey, process_alive, ssh

from runpod_ssh_action.sim import StandIn


def _refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(5)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_booted_pod_takes_a_real_ssh_login(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    created = gql.create(ssh_key.public)
    assert created["runtime"] is None
    port = gql.ssh_port(created["id"])
    result = ssh(ssh_key, port, "true", user=sim.ssh_user, known_hosts=tmp_path / "known_hosts")
    assert result.returncode == 0, result.stderr
    info = sim.pod(created["id"])
    assert info.ssh_port == port
    assert info.ready_at is not None and info.first_login_at is not None
    assert info.first_connection_at is not None
    assert info.ready_at <= info.first_connection_at <= info.first_login_at
    # The pod's own host key is what the client was shown.
    known = (tmp_path / "known_hosts").read_text()
    assert info.host_public_key.split()[1] in known


def test_a_wrong_key_is_refused(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    pod_id = gql.create(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPc7mD3oK2dQx9Hh9g1gM5ZlC0x9iK1b0CE2Q0j1XEMR"
    )["id"]
    port = gql.ssh_port(pod_id)
    result = ssh(ssh_key, port, "true", user=sim.ssh_user, known_hosts=tmp_path / "known_hosts")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_sessions_get_runpods_variables_and_the_stand_ins_ca(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    pod_id = gql.create(ssh_key.public, gpuCount=2)["id"]
    port = gql.ssh_port(pod_id)
    result = ssh(ssh_key, port, "env", user=sim.ssh_user, known_hosts=tmp_path / "known_hosts")
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert env["RUNPOD_POD_ID"] == pod_id
    assert env["RUNPOD_API_KEY"] == sim.pod(pod_id).api_key
    assert env["RUNPOD_PUBLIC_IP"] == "127.0.0.1"
    assert env["RUNPOD_TCP_PORT_22"] == str(port)
    assert env["RUNPOD_GPU_COUNT"] == "2"
    for name in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        assert env[name] == sim.ca_bundle
    # The account key never reaches a pod.
    assert sim.runpod_api_key not in result.stdout


def test_a_pod_can_terminate_itself_with_its_own_key(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    pod_id = gql.create(ssh_key.public)["id"]
    port = gql.ssh_port(pod_id)
    # What a watchdog on the pod does: curl with the pod-scoped key and the CA from
    # the session's environment. The pod dies under the call, so its answer is lost.
    query = "mutation T($id: String!) { podTerminate(input: {podId: $id}) }"
    script = (
        f"""printf '{{"query": "{query}", "variables": {{"id": "%s"}}}}' "$RUNPOD_POD_ID" | """
        'curl -sS -o /dev/null -H "Authorization: Bearer $RUNPOD_API_KEY" '
        f"-H 'Content-Type: application/json' --data @- {sim.runpod_url}"
    )
    ssh(ssh_key, port, script, user=sim.ssh_user, known_hosts=tmp_path / "known_hosts")
    # The call is recorded once it is answered, after the pod and the curl died.
    assert sim.wait_for(lambda: bool(sim.requests(operation="podTerminate")), timeout=30)
    assert sim.pod(pod_id).status == "TERMINATED"
    (record,) = sim.requests(operation="podTerminate")
    assert record.principal == f"pod:{pod_id}" and record.status == 200


def test_terminate_kills_sshd_and_what_the_pod_left_running(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    pod_id = gql.create(ssh_key.public)["id"]
    port = gql.ssh_port(pod_id)
    started = ssh(
        ssh_key,
        port,
        "nohup sleep 1000 >/dev/null 2>&1 & echo $!; "
        "setsid nohup sleep 1001 >/dev/null 2>&1 < /dev/null & echo $!",
        user=sim.ssh_user,
        known_hosts=tmp_path / "known_hosts",
    )
    assert started.returncode == 0, started.stderr
    pids = [int(pid) for pid in started.stdout.split()]
    assert len(pids) == 2 and all(process_alive(pid) for pid in pids)
    assert gql.terminate(pod_id).status_code == 200
    assert not any(process_alive(pid) for pid in pids)
    assert _refuses(port)


def test_terminate_drops_open_connections(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    pod_id = gql.create(ssh_key.public)["id"]
    port = gql.ssh_port(pod_id)
    # A connection with no command (like a ControlMaster): only sshd's own
    # processes hold it, none of them tagged with the pod id.
    client = subprocess.Popen(
        [
            "ssh",
            "-N",
            "-i",
            str(ssh_key.private),
            "-p",
            str(port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
            f"{sim.ssh_user}@127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert sim.wait_for(lambda: sim.pod(pod_id).first_login_at is not None, timeout=30)
        assert gql.terminate(pod_id).status_code == 200
        assert client.wait(timeout=30) == 255
    finally:
        client.kill()
        client.wait()


def test_preemption_exits_the_pod_and_kills_its_processes(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    pod_id = gql.create(ssh_key.public, spot=True)["id"]
    port = gql.ssh_port(pod_id)
    started = ssh(
        ssh_key,
        port,
        "nohup sleep 1000 >/dev/null 2>&1 & echo $!",
        user=sim.ssh_user,
        known_hosts=tmp_path / "known_hosts",
    )
    pid = int(started.stdout)
    sim.preempt(pod_id)
    assert not process_alive(pid)
    assert _refuses(port)
    pod = gql.pod(pod_id)
    assert pod["desiredStatus"] == "EXITED" and pod["runtime"] is None
    assert sim.pod(pod_id).status == "EXITED"


def test_a_stopped_pod_boots_again_on_resume(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    pod_id = gql.create(ssh_key.public)["id"]
    first_port = gql.ssh_port(pod_id)
    gql.call_data("podStop", {"podId": pod_id})
    assert gql.pod(pod_id)["runtime"] is None
    assert _refuses(first_port)
    resumed = gql.call_data(
        "podResume", {"podId": pod_id}, "desiredStatus runtime { uptimeInSeconds }"
    )
    assert resumed == {"desiredStatus": "RUNNING", "runtime": None}
    port = gql.ssh_port(pod_id)
    result = ssh(
        ssh_key, port, "echo $RUNPOD_TCP_PORT_22", user=sim.ssh_user, known_hosts=tmp_path / "kh"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(port)


def test_closing_the_stand_in_ends_every_pod(
    make_sim: Callable[..., StandIn], ssh_key: SshKey, tmp_path: Path
) -> None:
    sim = make_sim()
    gql = GraphQL(sim)
    pod_id = gql.create(ssh_key.public)["id"]
    port = gql.ssh_port(pod_id)
    started = ssh(
        ssh_key,
        port,
        "nohup sleep 1000 >/dev/null 2>&1 & echo $!",
        user=sim.ssh_user,
        known_hosts=tmp_path / "known_hosts",
    )
    pid = int(started.stdout)
    booting = gql.create(ssh_key.public)["id"]
    sim.close()
    assert not process_alive(pid)
    assert _refuses(port)
    assert {p.id: p.ended_by for p in sim.all_pods()} == {pod_id: "stand-in", booting: "stand-in"}


@pytest.mark.skipif(os.geteuid() != 0, reason="a second login user needs root to create")
def test_the_unprivileged_user_can_log_in(
    gql: GraphQL, sim: StandIn, ssh_key: SshKey, tmp_path: Path
) -> None:
    user = sim.unprivileged_user
    assert user != "root"
    pod_id = gql.create(ssh_key.public)["id"]
    port = gql.ssh_port(pod_id)
    result = ssh(
        ssh_key,
        port,
        'id -u; echo "$RUNPOD_POD_ID"; test -r "$SSL_CERT_FILE" && echo readable',
        user=user,
        known_hosts=tmp_path / "known_hosts",
    )
    assert result.returncode == 0, result.stderr
    uid, pod, readable = result.stdout.split()
    assert uid != "0" and pod == pod_id and readable == "readable"
    # Created once: asking again keeps the same user.
    assert sim.unprivileged_user == user

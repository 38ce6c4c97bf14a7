"""ssh.py against a real sshd: first login, host key pinning, commands, concurrency."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pod_rig import WAIT, Sshd, SshdFactory, free_port, make_target

from runpod_ssh_action import ssh
from runpod_ssh_action.clock import SystemClock
from runpod_ssh_action.errors import CancelledError


def _deadline() -> float:
    return time.monotonic() + WAIT


def test_login_waits_until_sshd_is_up_and_records_its_host_key(
    sshd_factory: SshdFactory, client_key: tuple[ssh.KeyPair, Path], tmp_path: Path
) -> None:
    port = free_port()
    host_key = sshd_factory.new_host_key()
    target = ssh.SshTarget("127.0.0.1", port, "root", client_key[1], tmp_path / "known_hosts")
    failures: list[str] = []
    started: list[Sshd] = []

    def on_attempt(attempt: int, reason: str) -> None:
        failures.append(reason)
        if not started:
            started.append(sshd_factory.start({}, port=port, host_key=host_key))

    recorded = ssh.wait_for_login(
        target, clock=SystemClock(), deadline=_deadline(), on_attempt=on_attempt
    ).host_keys

    assert failures and "Connection refused" in failures[0]
    host_public = Path(f"{host_key}.pub").read_text().split()[1]
    assert recorded == f"[127.0.0.1]:{port} ssh-ed25519 {host_public}"
    assert target.known_hosts.read_text() == recorded + "\n"
    # Only the known_hosts file and its lock are left; the scratch file is gone.
    assert sorted(p.name for p in tmp_path.iterdir() if "known_hosts" in p.name) == [
        "known_hosts",
        "known_hosts.lock",
    ]


def test_run_passes_stdin_and_returns_output_and_status(
    sshd_factory: SshdFactory, client_key: tuple[ssh.KeyPair, Path], tmp_path: Path
) -> None:
    server = sshd_factory.start({"RUNPOD_POD_ID": "pod-x"})
    target = make_target(server, client_key[1], tmp_path / "known_hosts")
    ssh.wait_for_login(target, clock=SystemClock(), deadline=_deadline())

    done = ssh.run(
        target,
        'read -r line; echo "got $line for $RUNPOD_POD_ID"; echo oops >&2; exit 3',
        stdin=b"secret-value\n",
        timeout=WAIT,
    )

    assert done.returncode == 3
    assert done.stdout == b"got secret-value for pod-x\n"
    assert done.stderr == b"oops\n"


def test_run_refuses_a_host_whose_key_changed(
    sshd_factory: SshdFactory, client_key: tuple[ssh.KeyPair, Path], tmp_path: Path
) -> None:
    first = sshd_factory.start({})
    target = make_target(first, client_key[1], tmp_path / "known_hosts")
    ssh.wait_for_login(target, clock=SystemClock(), deadline=_deadline())
    first.stop()
    marker = tmp_path / "ran"
    sshd_factory.start({}, port=first.port)

    with pytest.raises(ssh.HostKeyMismatchError) as caught:
        ssh.run(target, f"touch {marker}", timeout=WAIT)

    assert "different SSH host key" in str(caught.value)
    assert not marker.exists()


def test_wrong_key_fails_at_the_deadline_naming_public_key_and_ssh_user(
    sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory.start({})
    stranger = ssh.write_private_key(tmp_path / "other", "id", ssh.generate_keypair("x"))
    target = make_target(server, stranger, tmp_path / "known_hosts")

    with pytest.raises(ssh.SshLoginError) as caught:
        ssh.wait_for_login(target, clock=SystemClock(), deadline=time.monotonic() + 1)

    message = str(caught.value)
    assert "Permission denied (publickey)" in message
    assert "PUBLIC_KEY" in message and "ssh-user" in message


def test_parallel_logins_share_one_known_hosts_file(
    sshd_factory: SshdFactory, client_key: tuple[ssh.KeyPair, Path], tmp_path: Path
) -> None:
    servers = [sshd_factory.start({}) for _ in range(4)]
    known_hosts = tmp_path / "known_hosts"
    targets = [make_target(s, client_key[1], known_hosts) for s in servers]
    recorded: dict[int, str] = {}
    errors: list[BaseException] = []

    def login(target: ssh.SshTarget) -> None:
        try:
            recorded[target.port] = ssh.wait_for_login(
                target, clock=SystemClock(), deadline=_deadline()
            ).host_keys
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=login, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(known_hosts.read_text().splitlines()) == sorted(recorded.values())
    for server, target in zip(servers, targets, strict=True):
        assert recorded[target.port].endswith(server.host_public_key)
        assert ssh.run(target, "true", timeout=WAIT).returncode == 0


def test_a_new_pod_at_a_known_address_replaces_the_stale_key(
    sshd_factory: SshdFactory, client_key: tuple[ssh.KeyPair, Path], tmp_path: Path
) -> None:
    first = sshd_factory.start({})
    target = make_target(first, client_key[1], tmp_path / "known_hosts")
    ssh.wait_for_login(target, clock=SystemClock(), deadline=_deadline())
    first.stop()
    second = sshd_factory.start({}, port=first.port)

    recorded = ssh.wait_for_login(target, clock=SystemClock(), deadline=_deadline()).host_keys

    assert target.known_hosts.read_text() == recorded + "\n"
    assert recorded.endswith(second.host_public_key)
    assert ssh.run(target, "true", timeout=WAIT).returncode == 0


def test_run_gives_up_after_its_timeout(
    sshd_factory: SshdFactory, client_key: tuple[ssh.KeyPair, Path], tmp_path: Path
) -> None:
    server = sshd_factory.start({})
    target = make_target(server, client_key[1], tmp_path / "known_hosts")
    ssh.wait_for_login(target, clock=SystemClock(), deadline=_deadline())

    with pytest.raises(ssh.SshError) as caught:
        ssh.run(target, "sleep 300", timeout=1)

    assert caught.value.code == "SSH_TIMEOUT"


def test_run_stops_when_the_step_is_cancelled(
    sshd_factory: SshdFactory, client_key: tuple[ssh.KeyPair, Path], tmp_path: Path
) -> None:
    server = sshd_factory.start({})
    target = make_target(server, client_key[1], tmp_path / "known_hosts")
    ssh.wait_for_login(target, clock=SystemClock(), deadline=_deadline())
    cancelled = threading.Event()
    clock = SystemClock(cancelled)
    timer = threading.Timer(0.5, cancelled.set)
    timer.start()

    with pytest.raises(CancelledError):
        ssh.run(target, "sleep 300", timeout=WAIT * 5, clock=clock)
    timer.join()

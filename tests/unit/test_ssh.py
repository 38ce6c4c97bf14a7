"""ssh.py without a server: keys, the command line it builds, and the login wait."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runpod_ssh_action import ssh
from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.masking import Masker


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _target(tmp_path: Path, port: int = 22001, host: str = "1.2.3.4") -> ssh.SshTarget:
    return ssh.SshTarget(host, port, "root", tmp_path / "id", tmp_path / "known_hosts")


def test_generated_keypair_is_ed25519_in_openssh_formats() -> None:
    pair = ssh.generate_keypair("rpsa run-42")

    private = serialization.load_ssh_private_key(pair.private_openssh.encode(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert pair.public_openssh == f"{public.decode()} rpsa run-42"
    assert pair.private_openssh.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert pair.private_openssh not in repr(pair)
    assert ssh.generate_keypair("x").public_openssh != ssh.generate_keypair("x").public_openssh


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_openssh_reads_the_written_private_key(tmp_path: Path) -> None:
    pair = ssh.generate_keypair("c")
    path = ssh.write_private_key(tmp_path / "keys", "id_ed25519", pair)

    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()

    assert derived[:2] == pair.public_openssh.split()[:2]


def test_comment_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="one line"):
        ssh.generate_keypair("a\nb")


def test_private_key_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o755)
    stale = directory / "id"
    stale.write_text("old")
    stale.chmod(0o644)

    path = ssh.write_private_key(directory, "id", ssh.generate_keypair("c"))

    assert path == stale
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


@pytest.mark.parametrize("name", ["", "../id", "a/b", ".hidden"])
def test_key_file_name_must_be_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        ssh.write_private_key(tmp_path, name, ssh.generate_keypair("c"))


def test_ssh_command_for_the_output() -> None:
    target = ssh.SshTarget("1.2.3.4", 22001, "root", Path("/k/id"), Path("/k/known_hosts"))

    assert ssh.ssh_command(target) == (
        "ssh -i /k/id -p 22001 -o UserKnownHostsFile=/k/known_hosts root@1.2.3.4"
    )
    assert (
        ssh.ssh_command(target, include_known_hosts=False) == "ssh -i /k/id -p 22001 root@1.2.3.4"
    )


def test_ssh_command_quotes_paths_for_a_shell() -> None:
    target = ssh.SshTarget("h", 22, "me", Path("/my keys/id"), Path("/k/kh"))

    assert ssh.ssh_command(target, include_known_hosts=False) == "ssh -i '/my keys/id' -p 22 me@h"


def test_known_hosts_names_port_22_plainly_and_others_in_brackets(tmp_path: Path) -> None:
    assert _target(tmp_path, port=22).host_field == "1.2.3.4"
    assert _target(tmp_path, port=40022).host_field == "[1.2.3.4]:40022"


def test_login_retries_with_growing_pauses_until_the_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    target = _target(tmp_path, port=_closed_port(), host="127.0.0.1")
    attempts: list[tuple[int, str]] = []

    with pytest.raises(ssh.SshLoginError) as caught:
        ssh.wait_for_login(
            target,
            clock=clock,
            deadline=20.0,
            on_attempt=lambda n, reason: attempts.append((n, reason)),
        )

    # Zero sleeps are the checks for a cancelled step while ssh runs.
    pauses = [s for s in clock.sleeps if s > 0]
    assert pauses[0] == ssh.FIRST_RETRY
    assert all(b >= a for a, b in itertools.pairwise(pauses[:-1]))
    assert max(pauses) == ssh.LONGEST_RETRY
    assert clock.monotonic() == pytest.approx(20.0)
    assert [n for n, _ in attempts] == list(range(1, len(pauses) + 2))
    assert "Connection refused" in attempts[-1][1]
    error = caught.value
    assert error.code == "SSH_LOGIN_FAILED"
    assert "Connection refused" in error.why
    assert "start sshd" in error.fix and "PUBLIC_KEY" in error.fix
    assert [p.name for p in tmp_path.iterdir()] == []


def test_login_error_is_redacted(tmp_path: Path) -> None:
    masker = Masker()
    masker.add("Connection refused")
    target = _target(tmp_path, port=_closed_port(), host="127.0.0.1")

    with pytest.raises(ssh.SshLoginError) as caught:
        ssh.wait_for_login(target, clock=FakeClock(), deadline=0.0, masker=masker)

    assert "Connection refused" not in str(caught.value)
    assert "***" in caught.value.why


def _fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "argv"


def test_run_pins_the_host_key_and_keeps_stdin_off_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _fake_ssh(
        tmp_path,
        monkeypatch,
        f'printf "%s\\n" "$@" > {tmp_path}/argv; cat > {tmp_path}/stdin; echo out; exit 7',
    )
    target = _target(tmp_path)

    done = ssh.run(target, "bash -s", stdin=b"the-secret\n", timeout=30)

    argv = record.read_text().splitlines()
    assert (done.returncode, done.stdout) == (7, b"out\n")
    assert (tmp_path / "stdin").read_bytes() == b"the-secret\n"
    assert not any("the-secret" in arg for arg in argv)
    assert argv[-3:] == ["--", "1.2.3.4", "bash -s"]
    assert argv[:3] == ["-F", "/dev/null", "-T"]
    pairs = {argv[i + 1] for i, arg in enumerate(argv) if arg == "-o"}
    assert {
        "StrictHostKeyChecking=yes",
        "BatchMode=yes",
        "IdentitiesOnly=yes",
        "LogLevel=ERROR",
        "ServerAliveInterval=15",
        f'UserKnownHostsFile="{target.known_hosts}"',
    } <= pairs
    assert any(p.startswith("ConnectTimeout=") for p in pairs)
    assert argv[argv.index("-i") + 1] == str(target.key_path)
    assert argv[argv.index("-p") + 1] == "22001"
    assert argv[argv.index("-l") + 1] == "root"


def test_run_turns_a_refused_host_key_into_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_ssh(tmp_path, monkeypatch, 'echo "Host key verification failed." >&2; exit 255')

    with pytest.raises(ssh.HostKeyMismatchError):
        ssh.run(_target(tmp_path), "true", timeout=30)


def test_run_leaves_other_ssh_failures_to_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_ssh(tmp_path, monkeypatch, 'echo "Connection reset by peer" >&2; exit 255')

    done = ssh.run(_target(tmp_path), "true", timeout=30)

    assert done.returncode == 255 and b"reset" in done.stderr


def _fake_pod_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_ready: str) -> Path:
    """An ssh that refuses the first two logins, then records a host key into the
    UserKnownHostsFile it was given, prints the ready line and runs ``after_ready``
    (shell, with the session's stdin). Returns the directory it leaves its traces in."""
    traces = tmp_path / "traces"
    traces.mkdir()
    script = f"""
n=$(($(cat {traces}/count 2>/dev/null || echo 0) + 1)); echo $n > {traces}/count
if [ $n -le 2 ]; then echo "connect to host: Connection refused" >&2; exit 255; fi
for arg; do case $arg in UserKnownHostsFile=*)
  file=${{arg#UserKnownHostsFile=}}; file=${{file#\\"}}; file=${{file%\\"}}
  echo "[127.0.0.1]:22001 ssh-ed25519 AAAAfake" > "$file";;
esac; done
echo {ssh.SESSION_READY}
{after_ready}
"""
    _fake_ssh(tmp_path, monkeypatch, script)
    return traces


def test_the_command_runs_in_the_first_login_that_works_and_gets_stdin_only_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traces = _fake_pod_ssh(
        tmp_path, monkeypatch, f"cat > {tmp_path}/traces/stdin; echo result; exit 3"
    )
    asked: list[int] = []

    def stdin() -> bytes:
        asked.append(int((traces / "count").read_text()))
        return b"the-secret\n"

    login = ssh.wait_for_login(
        _target(tmp_path, host="127.0.0.1"),
        clock=FakeClock(),
        deadline=60.0,
        then=ssh.SessionCommand("bash -s", stdin, lambda: 30.0),
    )

    assert asked == [3]
    assert (traces / "stdin").read_bytes() == b"the-secret\n"
    assert login.output is not None
    assert (login.output.returncode, login.output.stdout) == (3, b"result\n")
    assert login.host_keys == "[127.0.0.1]:22001 ssh-ed25519 AAAAfake"
    assert (tmp_path / "known_hosts").read_text() == login.host_keys + "\n"
    assert not any("the-secret" in arg for arg in login.output.args)


def test_a_session_that_drops_once_its_input_went_out_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traces = _fake_pod_ssh(
        tmp_path, monkeypatch, 'cat > /dev/null; echo "Connection reset by peer" >&2; exit 255'
    )
    attempts: list[int] = []

    login = ssh.wait_for_login(
        _target(tmp_path, host="127.0.0.1"),
        clock=FakeClock(),
        deadline=60.0,
        then=ssh.SessionCommand("bash -s", lambda: b"script\n", lambda: 30.0),
        on_attempt=lambda n, _: attempts.append(n),
    )

    assert attempts == [1, 2]
    assert (traces / "count").read_text().strip() == "3"
    assert login.output is not None
    assert login.output.returncode == 255 and b"reset" in login.output.stderr

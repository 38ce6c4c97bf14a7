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
from runpod_ssh_action.clock import FakeClock, SystemClock
from runpod_ssh_action.errors import CancelledError
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


def _as_a_run_step_sees_it(command: str, tmp_path: Path, env: dict[str, str]) -> list[str]:
    """The argv ssh gets when a ``run:`` step's shell runs ``command``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "ssh"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", command],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_ssh_command_forces_host_key_checking_and_its_own_files(tmp_path: Path) -> None:
    command = ssh.ssh_command("root", "1.2.3.4", 22001, key="/k/id", known_hosts="/k/known_hosts")

    assert _as_a_run_step_sees_it(command, tmp_path, {}) == [
        "-i",
        "/k/id",
        "-p",
        "22001",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        'UserKnownHostsFile="/k/known_hosts"',
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "root@1.2.3.4",
    ]


def test_ssh_command_expands_the_runner_temp_and_keeps_spaces_in_one_word(
    tmp_path: Path,
) -> None:
    command = ssh.ssh_command(
        "me",
        "h",
        22,
        key="$RUNNER_TEMP/my keys/id",
        known_hosts="$RUNNER_TEMP/my keys/known_hosts",
    )

    argv = _as_a_run_step_sees_it(command, tmp_path, {"RUNNER_TEMP": "/run tmp/$HOME"})
    assert argv[:2] == ["-i", "/run tmp/$HOME/my keys/id"]
    assert 'UserKnownHostsFile="/run tmp/$HOME/my keys/known_hosts"' in argv


def test_ssh_command_keeps_shell_characters_of_a_path_literal(tmp_path: Path) -> None:
    command = ssh.ssh_command(
        "me", "h", 22, key='/a "b" $(touch x) `y` 50%/id', known_hosts="/k/kh"
    )

    # ssh expands % tokens in IdentityFile, so a literal % goes to it doubled.
    assert _as_a_run_step_sees_it(command, tmp_path, {})[1] == '/a "b" $(touch x) `y` 50%%/id'


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's client")
def test_ssh_command_wins_over_an_ssh_config_that_trusts_any_host(tmp_path: Path) -> None:
    # OpenSSH reads ~/.ssh/config from the passwd entry's home, not $HOME (openssh-portable
    # ssh.c, pw->pw_dir), so the hostile config is given with -F; command-line options
    # win over any config file all the same.
    config = tmp_path / "config"
    config.write_text(
        "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        "  GlobalKnownHostsFile /etc/elsewhere\n  IdentitiesOnly no\n"
    )
    folder = tmp_path / "t" / "k dir"
    folder.mkdir(parents=True)
    # ssh -G lists an -i file only if it exists.
    (folder / "id").write_text("")
    command = ssh.ssh_command(
        "root",
        "1.2.3.4",
        22001,
        key="$RUNNER_TEMP/k dir/id",
        known_hosts="$RUNNER_TEMP/k dir/known_hosts",
    )
    shown = subprocess.run(
        ["sh", "-c", command.replace("ssh ", f"ssh -G -F '{config}' ", 1)],
        env={"PATH": os.environ["PATH"], "RUNNER_TEMP": str(tmp_path / "t")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()

    assert "stricthostkeychecking true" in shown
    assert f"userknownhostsfile {folder}/known_hosts" in shown
    assert "globalknownhostsfile /dev/null" in shown
    assert "identitiesonly yes" in shown
    assert f"identityfile {folder}/id" in shown


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


def test_a_stopped_clock_ends_the_wait_for_a_login(tmp_path: Path) -> None:
    clock = SystemClock()
    target = _target(tmp_path, port=_closed_port(), host="127.0.0.1")
    attempts: list[int] = []

    def failed(n: int, _: str) -> None:
        attempts.append(n)
        clock.stop()

    # An hour's deadline: only the stop can end this wait while the test runs.
    with pytest.raises(CancelledError):
        ssh.wait_for_login(
            target, clock=clock, deadline=clock.monotonic() + 3600, on_attempt=failed
        )

    assert attempts == [1]
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_stopped_clock_ends_the_session_of_the_login_and_its_ssh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traces = _fake_pod_ssh(
        tmp_path, monkeypatch, f"echo $$ > {tmp_path}/traces/pid; exec sleep 600"
    )
    clock = SystemClock()

    def stdin() -> bytes:
        clock.stop()
        return b""

    with pytest.raises(CancelledError):
        ssh.wait_for_login(
            _target(tmp_path, host="127.0.0.1"),
            clock=clock,
            deadline=clock.monotonic() + 3600,
            then=ssh.SessionCommand("bash -s", stdin, lambda: 600.0),
        )

    # The session's ssh was killed and reaped, not left to run out its 600 s.
    with pytest.raises(ProcessLookupError):
        os.kill(int((traces / "pid").read_text()), 0)

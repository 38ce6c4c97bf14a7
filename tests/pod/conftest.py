"""Fixtures for the pod tests; the rig itself is in pod_rig.py."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from pod_rig import (
    SSHD,
    FakeServices,
    PodFactory,
    PodUser,
    SshdFactory,
    handler,
    process_cmdlines,
)

from runpod_ssh_action import ssh


@pytest.fixture
def services() -> Iterator[FakeServices]:
    state = FakeServices()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def root_with_sshd() -> None:
    if os.geteuid() != 0 or not SSHD.exists() or shutil.which("ssh") is None:
        pytest.skip("needs root, openssh-server and openssh-client")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)


@pytest.fixture(scope="session")
def world_readable_dir(root_with_sshd: None) -> Iterator[Path]:
    """sshd reads authorized keys as the user logging in, and pytest's tmp_path is
    closed to other users, so keys and the throw-away user's home live here."""
    path = Path(tempfile.mkdtemp(prefix="rpsa-pod-tests-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pod_user(world_readable_dir: Path) -> Iterator[PodUser]:
    name = f"rpsa{secrets.token_hex(4)}"
    home = world_readable_dir / "home" / name
    home.parent.mkdir(mode=0o755, exist_ok=True)
    subprocess.run(
        ["useradd", "-m", "-d", str(home), "-s", "/bin/bash", name],
        check=True,
        capture_output=True,
    )
    # A locked password ("!") makes sshd without PAM refuse even key logins.
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    yield PodUser(name, home)
    _remove_user(name)


@pytest.fixture
def runner_user_name(root_with_sshd: None) -> Iterator[str]:
    """A name for the bootstrap's runner user, removed again with its processes."""
    name = f"rpsaci{secrets.token_hex(4)}"
    yield name
    _remove_user(name)


def _remove_user(name: str) -> None:
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for pid in process_cmdlines():
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}").st_uid == uid:
                os.kill(pid, signal.SIGKILL)
    subprocess.run(["userdel", "-r", name], check=False, capture_output=True)


@pytest.fixture
def client_key(tmp_path: Path) -> tuple[ssh.KeyPair, Path]:
    key = ssh.generate_keypair("rpsa-test")
    return key, ssh.write_private_key(tmp_path / "keys", "id_ed25519", key)


@pytest.fixture
def sshd_factory(
    tmp_path: Path, world_readable_dir: Path, client_key: tuple[ssh.KeyPair, Path]
) -> Iterator[SshdFactory]:
    keys_dir = Path(tempfile.mkdtemp(prefix="keys-", dir=world_readable_dir))
    keys_dir.chmod(0o755)
    factory = SshdFactory(tmp_path, keys_dir, client_key[0].public_openssh)
    factory.authorize("root")
    yield factory
    factory.stop_all()
    shutil.rmtree(keys_dir, ignore_errors=True)


@pytest.fixture
def pods(
    sshd_factory: SshdFactory, tmp_path: Path, client_key: tuple[ssh.KeyPair, Path]
) -> Iterator[PodFactory]:
    factory = PodFactory(sshd_factory, tmp_path, client_key[1])
    yield factory
    factory.cleanup()

"""Fixtures for driving the stand-in over real HTTPS and real SSH."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from standin_client import GraphQL, SshKey

from runpod_ssh_action.sim import SimConfig, StandIn

SSHD = "/usr/sbin/sshd"


def _missing_openssh() -> str | None:
    if not os.access(SSHD, os.X_OK):
        return f"the stand-in's pods need OpenSSH's sshd at {SSHD} (apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"the tests log in to pods with {tool} (apt-get install openssh-client)"
    return None


@pytest.fixture
def openssh() -> None:
    """Skips the test where the stand-in's pods cannot be real SSH servers."""
    reason = _missing_openssh()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def ssh_key(tmp_path: Path, openssh: None) -> SshKey:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return SshKey(key, key.with_suffix(".pub").read_text().strip())


@pytest.fixture
def make_sim(tmp_path: Path, openssh: None) -> Iterator[Callable[..., StandIn]]:
    """Start a stand-in with quick pods; every one started is closed after the test."""
    started: list[StandIn] = []

    def make(**overrides: Any) -> StandIn:
        config = SimConfig(**{"boot_delay": 0.2, **overrides})
        sim = StandIn(config, workdir=tmp_path / f"sim{len(started)}")
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.close()


@pytest.fixture
def sim(make_sim: Callable[..., StandIn]) -> StandIn:
    return make_sim()


@pytest.fixture
def gql(sim: StandIn) -> GraphQL:
    return GraphQL(sim)

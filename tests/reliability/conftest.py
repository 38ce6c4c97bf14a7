"""Shared fixtures of the reliability suite. Its table of what was tried, how many times
and how many held is kept and printed by the top-level conftest, which adds up the
shares of pytest-xdist's workers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from runpod_ssh_action.sim import SimConfig, StandIn

from ..conftest import tally_of
from .support import Tally


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Tally:
    return tally_of(request.config)


def require_openssh() -> None:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("OpenSSH's server is not installed (apt-get install openssh-server)")


def start_standins(stack: ExitStack, base: Path, count: int, config: SimConfig) -> list[StandIn]:
    require_openssh()
    return [stack.enter_context(StandIn(config, workdir=base / f"lane-{n}")) for n in range(count)]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """One stand-in for a whole module: each case has a run id of its own."""
    with ExitStack() as stack:
        (stand_in,) = start_standins(
            stack, tmp_path_factory.mktemp("standin"), 1, SimConfig(boot_delay=0.2)
        )
        yield stand_in

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runpod_ssh_action.sim import SimConfig, StandIn

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[StandIn]:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("OpenSSH's server is not installed (apt-get install openssh-server)")
    with StandIn(SimConfig(tls=True, boot_delay=0.3), workdir=tmp_path) as stand_in:
        yield stand_in

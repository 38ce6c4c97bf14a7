"""The stand-in runner release tarball: deterministic, laid out like the real one."""

from __future__ import annotations

import hashlib
import io
import tarfile

from runpod_ssh_action.sim.runner_release import (
    SIM_RUNNER_VERSION,
    build_runner_tarball,
    download_path,
    tarball_name,
)


def test_build_is_byte_for_byte_repeatable() -> None:
    version, digest, data = build_runner_tarball()
    assert version == SIM_RUNNER_VERSION
    assert digest == hashlib.sha256(data).hexdigest()
    assert build_runner_tarball() == (version, digest, data)
    assert build_runner_tarball("2.998.0")[1] != digest


def test_layout_and_modes() -> None:
    _, _, data = build_runner_tarball()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert sorted(members) == [
            "bin",
            "bin/runner.version",
            "bin/runner_listener.py",
            "config.sh",
            "run.sh",
        ]
        for name in ("config.sh", "run.sh", "bin/runner_listener.py"):
            assert members[name].mode == 0o755
            assert members[name].uid == 0
        version = archive.extractfile("bin/runner.version")
        assert version is not None
        assert version.read().decode().strip() == SIM_RUNNER_VERSION
        script = archive.extractfile("run.sh")
        assert script is not None
        assert script.read().startswith(b"#!/bin/bash\n")


def test_names_follow_the_real_release() -> None:
    assert tarball_name("2.321.0") == "actions-runner-linux-x64-2.321.0.tar.gz"
    assert download_path("2.321.0") == (
        "/actions/runner/releases/download/v2.321.0/actions-runner-linux-x64-2.321.0.tar.gz"
    )

"""A stand-in actions/runner release: ``actions-runner-linux-x64-<version>.tar.gz``.

It keeps the real runner's interface (``config.sh``, ``run.sh --jitconfig``, the
``ACTIONS_RUNNER_INPUT_JITCONFIG`` variable, ``_diag`` logs) over a small stdlib-only
Python listener that talks to the stand-in GitHub. The archive is built in memory
with fixed metadata, so its SHA-256 is the same on every build and can be pinned the
way a real release's checksum is.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

# Not a real release number, so a checksum table for real releases never matches it.
SIM_RUNNER_VERSION = "2.999.0"

_SOURCES = Path(__file__).parent / "runner"
# (file in sim/runner/, path in the archive, mode)
_FILES = (
    ("config.sh", "config.sh", 0o755),
    ("run.sh", "run.sh", 0o755),
    ("runner_listener.py", "bin/runner_listener.py", 0o755),
)
_MTIME = 1767225600  # 2026-01-01T00:00:00Z


def tarball_name(version: str = SIM_RUNNER_VERSION) -> str:
    return f"actions-runner-linux-x64-{version}.tar.gz"


def download_path(version: str = SIM_RUNNER_VERSION) -> str:
    """The path github.com serves this release under, relative to the server URL."""
    return f"/actions/runner/releases/download/v{version}/{tarball_name(version)}"


def build_runner_tarball(version: str = SIM_RUNNER_VERSION) -> tuple[str, str, bytes]:
    """Return ``(version, sha256 hex, tar.gz bytes)``."""
    members: list[tuple[str, int, bytes | None]] = [("bin", 0o755, None)]
    members += [(name, mode, (_SOURCES / source).read_bytes()) for source, name, mode in _FILES]
    members.append(("bin/runner.version", 0o644, f"{version}\n".encode()))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, mode, data in sorted(members, key=lambda member: member[0]):
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = _MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    return version, hashlib.sha256(packed).hexdigest(), packed

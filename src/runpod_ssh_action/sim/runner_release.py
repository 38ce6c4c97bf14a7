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
from typing import Any

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


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()


def deprecated_message(version: str) -> str:
    """GitHub's refusal of an expired runner version, as the runner prints it
    (actions/runner #4305, #4392)."""
    return f"Runner version v{version} is deprecated and cannot receive messages."


# The platforms of a real release's checksum list (actions/runner releaseNote.md).
_PLATFORMS = ("win-x64", "win-arm64", "osx-x64", "osx-arm64", "linux-x64", "linux-arm64")


def release_json(version: str, sha256: str, download_url: str) -> dict[str, Any]:
    """``GET /repos/actions/runner/releases/{latest,tags/v…}`` for the stand-in's
    release: its notes hold the checksum list between the same markers as a real
    release's, among the other platforms' hashes, and the asset has a ``digest``."""
    lines = []
    for platform in _PLATFORMS:
        digest = sha256 if platform == "linux-x64" else _other_hash(platform, version)
        lines.append(
            f"- actions-runner-{platform}-{version}.tar.gz "
            f"<!-- BEGIN SHA {platform} -->{digest}<!-- END SHA {platform} -->"
        )
    body = (
        f"## What's Changed\n* Stand-in release {version} "
        f"(build {_other_hash('build', version)})\n\n"
        "## SHA-256 Checksums\n\nThe SHA-256 checksums for the packages included in this "
        "build are shown below:\n\n" + "\n".join(lines) + "\n"
    )
    name = tarball_name(version)
    return {
        "tag_name": f"v{version}",
        "name": f"v{version}",
        "draft": False,
        "prerelease": False,
        "body": body,
        "assets": [
            {
                "name": f"actions-runner-win-x64-{version}.zip",
                "browser_download_url": download_url.replace(
                    name, f"actions-runner-win-x64-{version}.zip"
                ),
                "digest": f"sha256:{_other_hash('win-x64', version)}",
            },
            {"name": name, "browser_download_url": download_url, "digest": f"sha256:{sha256}"},
        ],
    }


def _other_hash(what: str, version: str) -> str:
    return hashlib.sha256(f"{what}-{version}".encode()).hexdigest()


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

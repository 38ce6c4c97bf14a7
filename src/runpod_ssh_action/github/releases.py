"""Which actions/runner release to install, read from GitHub's release API.

GitHub stops giving jobs to a runner version about 30 days after a newer release
(actions/runner #4305, #4392), and the pods' runners run with ``--disableupdate``, so
a version fixed in the action goes stale within weeks. The version, tarball URL and
SHA-256 are therefore read from ``releases/latest`` (or ``releases/tags/v<version>``
for a pinned one) of the GitHub API in use, so a GHES mirror serves them too.

The checksum comes from the markers actions/runner's release notes put around each
tarball's SHA-256 (releaseNote.md: ``<!-- BEGIN SHA linux-x64 -->…<!-- END SHA
linux-x64 -->``); the notes hold other 64-hex strings, so no bare hash is taken.
Newer API answers also give each asset a ``digest`` (``sha256:<hex>``); where both
exist they must agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import MalformedResponseError

RUNNER_REPOSITORY = "actions/runner"
PLATFORM = "linux-x64"

VERSION = re.compile(r"^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}$")
_TAG = re.compile(r"^v([0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4})$")
_CHECKSUM = re.compile(
    rf"<!--\s*BEGIN SHA {PLATFORM}\s*-->\s*([0-9a-fA-F]{{64}})\s*<!--\s*END SHA {PLATFORM}\s*-->"
)
_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")


@dataclass(frozen=True)
class RunnerRelease:
    """One runner release for linux-x64: ``newest`` is the latest release's version,
    or "" when it could not be learned."""

    version: str
    url: str
    sha256: str
    newest: str

    @property
    def outdated(self) -> bool:
        return bool(self.newest) and version_key(self.version) < version_key(self.newest)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def tarball_name(version: str) -> str:
    return f"actions-runner-{PLATFORM}-{version}.tar.gz"


def release_tag(data: Any) -> str:
    """The version a release answer is for ("2.330.0" from tag "v2.330.0")."""
    tag = data.get("tag_name") if isinstance(data, dict) else None
    found = _TAG.match(tag) if isinstance(tag, str) else None
    if found is None:
        raise MalformedResponseError("the field 'tag_name' is missing or not like v2.330.0")
    return found.group(1)


def parse_release(data: Any, newest: str) -> RunnerRelease:
    """The linux-x64 tarball of a release answer, with its checked SHA-256."""
    version = release_tag(data)
    name = tarball_name(version)
    assets = data.get("assets")
    asset = (
        next(
            (a for a in assets if isinstance(a, dict) and a.get("name") == name),
            None,
        )
        if isinstance(assets, list)
        else None
    )
    if asset is None:
        raise MalformedResponseError(f"the release has no asset {name}")
    url = asset.get("browser_download_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise MalformedResponseError(f"the asset {name} has no http(s) browser_download_url")
    body = data.get("body")
    in_notes = _CHECKSUM.search(body) if isinstance(body, str) else None
    digest = asset.get("digest")
    in_digest = _DIGEST.match(digest) if isinstance(digest, str) else None
    notes_sha = in_notes.group(1).lower() if in_notes else ""
    digest_sha = in_digest.group(1).lower() if in_digest else ""
    if notes_sha and digest_sha and notes_sha != digest_sha:
        raise MalformedResponseError(
            f"the release notes give {name} the SHA-256 {notes_sha}, but the asset's digest "
            f"is {digest_sha}"
        )
    sha256 = notes_sha or digest_sha
    if not sha256:
        raise MalformedResponseError(
            f"neither the release notes (<!-- BEGIN SHA {PLATFORM} -->) nor the asset give "
            f"a SHA-256 for {name}"
        )
    return RunnerRelease(version=version, url=url, sha256=sha256, newest=newest)


def choose(
    version: str,
    download_url: str | None,
    sha256: str | None,
    look_up: Callable[[str], RunnerRelease],
) -> RunnerRelease:
    """The tarball the pods install, from the runner-version, runner-download-url and
    runner-sha256 inputs. A custom URL is used as given (its SHA-256 is required, so no
    release is looked up); otherwise the release of ``version`` gives the URL, and its
    published checksum unless runner-sha256 pins one (the pod checks either)."""
    if download_url:
        assert sha256, "the settings demand runner-sha256 with runner-download-url"
        return RunnerRelease(version=version, url=download_url, sha256=sha256.lower(), newest="")
    release = look_up(version)
    if sha256:
        return RunnerRelease(release.version, release.url, sha256.lower(), release.newest)
    return release


def outdated_warning(release: RunnerRelease) -> str:
    return (
        f"runner-version {release.version} is not the newest runner release "
        f"({release.newest}): GitHub stops giving jobs to a runner version about 30 days "
        "after a newer release, and the pods' runners do not update themselves. Use "
        f"runner-version: latest, or pin {release.newest}"
    )

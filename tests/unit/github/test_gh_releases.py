"""Choosing the runner release: GitHub's release answers, their checksums, the inputs."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import responses
from gh_helpers import API

from runpod_ssh_action.errors import InputError
from runpod_ssh_action.github import GitHubClient
from runpod_ssh_action.github.errors import GitHubError
from runpod_ssh_action.github.releases import (
    RunnerRelease,
    choose,
    outdated_warning,
    parse_release,
)

RELEASES = f"{API}/repos/actions/runner/releases"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def release(version: str, *, notes: str | None = None, digest: str | None = None) -> dict[str, Any]:
    """A release answer shaped like actions/runner's (releaseNote.md's checksum list)."""
    name = f"actions-runner-linux-x64-{version}.tar.gz"
    checksum = sha(version) if notes is None else notes
    body = (
        f"## What's Changed\n* fix {sha('commit')}\n\n## SHA-256 Checksums\n"
        f"- actions-runner-win-x64-{version}.zip <!-- BEGIN SHA win-x64 -->{sha('win')}"
        "<!-- END SHA win-x64 -->\n"
        f"- {name} <!-- BEGIN SHA linux-x64 -->{checksum}<!-- END SHA linux-x64 -->\n"
        f"- actions-runner-linux-arm64-{version}.tar.gz <!-- BEGIN SHA linux-arm64 -->"
        f"{sha('arm')}<!-- END SHA linux-arm64 -->\n"
    )
    asset: dict[str, Any] = {
        "name": name,
        "browser_download_url": f"https://github.com/actions/runner/releases/download/"
        f"v{version}/{name}",
    }
    if digest is not None:
        asset["digest"] = digest
    return {"tag_name": f"v{version}", "name": f"v{version}", "body": body, "assets": [asset]}


def test_latest_takes_the_linux_x64_checksum_between_its_markers(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.get(f"{RELEASES}/latest", json=release("2.331.0", digest=f"sha256:{sha('2.331.0')}"))
    found = pat_client.runner_release("latest")
    assert found == RunnerRelease(
        version="2.331.0",
        url="https://github.com/actions/runner/releases/download/v2.331.0/"
        "actions-runner-linux-x64-2.331.0.tar.gz",
        sha256=sha("2.331.0"),
        newest="2.331.0",
    )
    assert not found.outdated
    assert api.calls[0].request.headers["Authorization"].startswith("Bearer ")


def test_a_pinned_version_reads_its_tag_and_learns_the_newest(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.get(f"{RELEASES}/latest", json=release("2.331.0"))
    api.get(f"{RELEASES}/tags/v2.330.0", json=release("2.330.0"))
    found = pat_client.runner_release("2.330.0")
    assert (found.version, found.sha256, found.newest) == ("2.330.0", sha("2.330.0"), "2.331.0")
    assert found.outdated
    assert "runner-version: latest" in outdated_warning(found)


def test_a_pinned_version_works_when_the_newest_cannot_be_learned(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.get(f"{RELEASES}/latest", status=404, json={"message": "Not Found"})
    api.get(f"{RELEASES}/tags/v2.330.0", json=release("2.330.0"))
    found = pat_client.runner_release("2.330.0")
    assert (found.newest, found.outdated) == ("", False)


def test_an_unknown_version_names_runner_version(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.get(f"{RELEASES}/latest", json=release("2.331.0"))
    api.get(f"{RELEASES}/tags/v2.1.0", status=404, json={"message": "Not Found"})
    with pytest.raises(GitHubError, match="runner-version"):
        pat_client.runner_release("2.1.0")
    with pytest.raises(InputError, match="runner-version"):
        pat_client.runner_release("2.1")


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (release("2.331.0", digest=f"sha256:{sha('other')}"), "digest"),
        (release("2.331.0", notes="not-a-hash"), "SHA-256"),
        ({**release("2.331.0"), "assets": []}, "no asset"),
        ({**release("2.331.0"), "tag_name": "latest"}, "tag_name"),
    ],
)
def test_answers_that_vouch_for_nothing_are_refused(
    api: responses.RequestsMock, pat_client: GitHubClient, answer: dict[str, Any], problem: str
) -> None:
    api.get(f"{RELEASES}/latest", json=answer)
    with pytest.raises(GitHubError, match=problem):
        pat_client.runner_release("latest")


def test_the_asset_digest_alone_is_enough() -> None:
    answer = release("2.331.0", notes="", digest=f"sha256:{sha('2.331.0').upper()}")
    answer["body"] = "no checksum list"
    found = choose("latest", None, None, lambda _: parse_release(answer, "2.331.0"))
    assert found.sha256 == sha("2.331.0")


def test_choose_follows_the_inputs() -> None:
    looked_up: list[str] = []
    published = RunnerRelease("2.330.0", "https://ghes.example/r.tgz", sha("p"), "2.331.0")

    def look_up(version: str) -> RunnerRelease:
        looked_up.append(version)
        return published

    custom = choose("latest", "https://mirror.example/r.tgz", "A" * 64, look_up)
    assert (custom.url, custom.sha256, looked_up) == ("https://mirror.example/r.tgz", "a" * 64, [])
    assert choose("2.330.0", None, None, look_up) == published
    pinned = choose("2.330.0", None, "B" * 64, look_up)
    assert (pinned.url, pinned.sha256) == (published.url, "b" * 64)
    assert looked_up == ["2.330.0", "2.330.0"]

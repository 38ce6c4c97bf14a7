"""action.yml is the public face of Settings: same inputs, same defaults, same words."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from runpod_ssh_action.settings import INPUTS, OUTPUTS

ACTION = Path(__file__).resolve().parents[2] / "action.yml"


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(ACTION.read_text(encoding="utf-8"))
    return loaded


def test_inputs_are_the_settings_inputs_in_order(action: dict[str, Any]) -> None:
    assert list(action["inputs"]) == [spec.name for spec in INPUTS]


@pytest.mark.parametrize("spec", INPUTS, ids=[spec.name for spec in INPUTS])
def test_input_matches_settings(action: dict[str, Any], spec: Any) -> None:
    declared = action["inputs"][spec.name]
    # The runner hands defaults over as strings; YAML must not turn them into numbers.
    assert declared.get("default", "") == spec.default
    assert isinstance(declared.get("default", ""), str)
    assert declared["required"] is spec.required
    assert _words(declared["description"]) == _words(spec.description)


def test_outputs_are_the_documented_ones(action: dict[str, Any]) -> None:
    assert list(action["outputs"]) == list(OUTPUTS)
    for name, description in OUTPUTS.items():
        assert _words(action["outputs"][name]["description"]) == _words(description)


def test_runs_the_python_entry_points_in_the_container(action: dict[str, Any]) -> None:
    assert action["runs"] == {
        "using": "docker",
        "image": "Dockerfile",
        "entrypoint": "/usr/local/bin/runpod-ssh-action-main",
        "post-entrypoint": "/usr/local/bin/runpod-ssh-action-post",
        "post-if": "always()",
    }


def test_metadata(action: dict[str, Any]) -> None:
    assert action["branding"] == {"icon": "cpu", "color": "purple"}
    assert action["name"] and action["author"] and action["description"]


def test_schema() -> None:
    tool = shutil.which("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install -e .[test])")
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

"""The README's inputs and outputs tables say what action.yml says.

`make docs` (tools/render_tables.py) writes the tables; these tests fail when action.yml
changed and the README was not refreshed, and check the renderer itself on small cases.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tables = _load_tool("render_tables")


def _rows(table: str) -> dict[str, str]:
    """Table rows by their first cell (the input or output name)."""
    rows = {}
    for line in table.splitlines()[2:]:
        name = line.split("|")[1].strip()
        rows[name] = line
    return rows


@pytest.mark.parametrize("table", tables.TABLES)
def test_readme_table_matches_action_yml(table: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    try:
        shown = tables.between(readme, table)
    except tables.MarkerError as error:
        pytest.fail(f"README.md: {error}; then run `make docs` to fill the table")
    expected = tables.render(tables.load_action())[table]
    if shown == expected:
        return
    shown_rows, expected_rows = _rows(shown), _rows(expected)
    problems = [
        f"missing from the README: {name}" for name in expected_rows if name not in shown_rows
    ]
    problems += [f"not in action.yml: {name}" for name in shown_rows if name not in expected_rows]
    problems += [
        f"differs: {name}\n  README:     {shown_rows[name]}\n  action.yml: {row}"
        for name, row in expected_rows.items()
        if name in shown_rows and shown_rows[name] != row
    ]
    if not problems:
        problems = ["same rows, different order or header"]
    pytest.fail(
        f"README.md's {table} table is out of date with action.yml (run `make docs`):\n"
        + "\n".join(problems)
    )


ACTION = {
    "inputs": {
        "api-key": {"description": "The key.\nMasked.", "required": True},
        "mode": {"description": "a | b", "default": "start"},
        "labels": {"description": "Extra labels.", "required": False},
        "blank": {"description": "Empty default.", "default": ""},
        "tick": {"description": "Odd default.", "default": "a`b"},
    },
    "outputs": {"pod-id": {"description": "Id\nof the pod."}},
}


def test_inputs_render_defaults_required_and_folded_descriptions() -> None:
    assert tables.render_inputs(ACTION).splitlines() == [
        "| Input | Default | Description |",
        "| --- | --- | --- |",
        "| `api-key` | **required** | The key. Masked. |",
        "| `mode` | `start` | a \\| b |",
        "| `labels` |  | Extra labels. |",
        "| `blank` |  | Empty default. |",
        "| `tick` | `` a`b `` | Odd default. |",
    ]


def test_outputs_render_in_action_order() -> None:
    assert tables.render_outputs(ACTION).splitlines() == [
        "| Output | Description |",
        "| --- | --- |",
        "| `pod-id` | Id of the pod. |",
    ]


def test_write_replaces_only_between_the_markers(tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    action.write_text(
        "name: x\ndescription: y\nruns: {using: docker, image: Dockerfile}\n"
        "inputs:\n  mode:\n    description: What to do.\n    default: start\n"
        "outputs:\n  pod-id:\n    description: The pod.\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\n<!-- inputs:start -->\nstale\n<!-- inputs:end -->\n\nmiddle\n\n"
        "<!-- outputs:start -->\n<!-- outputs:end -->\n\nend\n"
    )
    assert tables.main(["--action", str(action), "--write", str(readme)]) == 0
    assert readme.read_text() == (
        "# Title\n\n<!-- inputs:start -->\n"
        "| Input | Default | Description |\n| --- | --- | --- |\n"
        "| `mode` | `start` | What to do. |\n<!-- inputs:end -->\n\nmiddle\n\n"
        "<!-- outputs:start -->\n| Output | Description |\n| --- | --- |\n"
        "| `pod-id` | The pod. |\n<!-- outputs:end -->\n\nend\n"
    )
    # A second run finds nothing to change.
    before = readme.read_text()
    assert tables.main(["--action", str(action), "--write", str(readme)]) == 0
    assert readme.read_text() == before


def test_write_refuses_a_readme_without_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n<!-- inputs:end -->\n<!-- inputs:start -->\n")
    assert tables.main(["--write", str(readme)]) == 1
    assert readme.read_text() == "# Title\n<!-- inputs:end -->\n<!-- inputs:start -->\n"

"""Render the README's inputs and outputs tables from action.yml.

action.yml is the one source of the inputs' names, defaults and descriptions; the README
shows them between marker comments, and a test checks that the two agree.

    python tools/render_tables.py               print both tables
    python tools/render_tables.py --write FILE  replace the tables between FILE's markers
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
TABLES = ("inputs", "outputs")


class MarkerError(ValueError):
    """The document lacks a table's start/end marker pair, or has them out of order."""


def markers(table: str) -> tuple[str, str]:
    return f"<!-- {table}:start -->", f"<!-- {table}:end -->"


def load_action(path: Path = REPO / "action.yml") -> dict[str, Any]:
    document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a YAML mapping")
    return document


def cell(text: str) -> str:
    """One table cell: YAML's folded line breaks become spaces, pipes are escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def code(value: str) -> str:
    """Inline code that survives backticks inside the value."""
    fence = "``" if "`" in value else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def default_cell(spec: Mapping[str, Any]) -> str:
    if "default" in spec and str(spec["default"]) != "":
        return cell(code(str(spec["default"])))
    return "**required**" if spec.get("required") is True else ""


def render_inputs(action: Mapping[str, Any]) -> str:
    lines = ["| Input | Default | Description |", "| --- | --- | --- |"]
    for name, given in (action.get("inputs") or {}).items():
        spec = given or {}
        description = cell(str(spec.get("description", "")))
        lines.append(f"| `{name}` | {default_cell(spec)} | {description} |")
    return "\n".join(lines)


def render_outputs(action: Mapping[str, Any]) -> str:
    lines = ["| Output | Description |", "| --- | --- |"]
    for name, spec in (action.get("outputs") or {}).items():
        description = cell(str((spec or {}).get("description", "")))
        lines.append(f"| `{name}` | {description} |")
    return "\n".join(lines)


def render(action: Mapping[str, Any]) -> dict[str, str]:
    return {"inputs": render_inputs(action), "outputs": render_outputs(action)}


def between(document: str, table: str) -> str:
    """The text between a table's markers, without the surrounding blank lines."""
    start, end = markers(table)
    first = document.find(start)
    last = document.find(end)
    if first < 0 or last < 0 or last < first:
        raise MarkerError(f"the README needs the markers {start} and {end}, in that order")
    return document[first + len(start) : last].strip("\n")


def replace(document: str, tables: Mapping[str, str]) -> str:
    for table, body in tables.items():
        start, end = markers(table)
        between(document, table)
        head, rest = document.split(start, 1)
        _, tail = rest.split(end, 1)
        document = f"{head}{start}\n{body}\n{end}{tail}"
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--action", type=Path, default=REPO / "action.yml")
    parser.add_argument("--write", type=Path, metavar="FILE", help="update FILE in place")
    options = parser.parse_args(argv)
    tables = render(load_action(options.action))
    if options.write is None:
        for table in TABLES:
            print(f"{markers(table)[0]}\n{tables[table]}\n{markers(table)[1]}\n")
        return 0
    try:
        updated = replace(options.write.read_text(encoding="utf-8"), tables)
    except MarkerError as error:
        print(f"{options.write}: {error}", file=sys.stderr)
        return 1
    options.write.write_text(updated, encoding="utf-8")
    print(f"{options.write}: inputs and outputs tables refreshed from {options.action.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

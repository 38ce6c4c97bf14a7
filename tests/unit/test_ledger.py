"""The ledger records what a step made the moment it exists, and closes for teardown."""

from __future__ import annotations

import io
from pathlib import Path

from runpod_ssh_action.ledger import Ledger, parse_ids
from runpod_ssh_action.workflow import Workflow, parse_file_commands


def test_every_new_pod_and_runner_is_saved_at_once() -> None:
    saved: list[tuple[str, str]] = []
    ledger = Ledger(lambda name, value: saved.append((name, value)))
    assert ledger.add_pod("a1")
    assert ledger.add_pod("b2")
    assert ledger.add_pod("a1")  # recorded once
    assert ledger.add_runner(7)
    assert saved == [("pods", "a1"), ("pods", "a1,b2"), ("runners", "7")]


def test_after_close_new_entries_are_kept_for_teardown_but_refused() -> None:
    saved: list[tuple[str, str]] = []
    ledger = Ledger(lambda name, value: saved.append((name, value)))
    ledger.add_pod("a1")
    assert ledger.close() == (["a1"], [])
    assert ledger.add_pod("late") is False
    assert ledger.pods == ["a1", "late"]
    assert saved[-1] == ("pods", "a1,late")


def test_parse_ids_ignores_blanks() -> None:
    assert parse_ids(" a, ,b ,") == ["a", "b"]
    assert parse_ids(None) == []


def test_a_pod_id_is_in_the_state_file_before_add_pod_returns(tmp_path: Path) -> None:
    # The runner reads GITHUB_STATE for the post step whenever the main step's docker
    # CLI ends, even if it was killed mid-create: what is on disk is all the post gets.
    state = tmp_path / "state"
    state.touch()
    workflow = Workflow({"GITHUB_STATE": str(state)}, io.StringIO())
    ledger = Ledger(workflow.save_state)
    seen: list[dict[str, str]] = []

    def adopt(pod_id: str) -> None:
        ledger.add_pod(pod_id)
        seen.append(parse_file_commands(state.read_text()))

    adopt("a1")
    adopt("b2")
    assert [s["pods"] for s in seen] == ["a1", "a1,b2"]

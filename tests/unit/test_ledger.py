"""The ledger records what a step made the moment it exists, and closes for teardown."""

from __future__ import annotations

from runpod_ssh_action.ledger import Ledger, parse_ids


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

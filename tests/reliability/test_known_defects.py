"""Regression tests for defects this suite found and that were fixed outside it.

A GitHub answer cut short (HTTP 200, a body that is not JSON) used to fail a whole start
at once, while a broken connection or a 5xx got one more try. Now each such answer is a
failure worth trying again: reads are asked again, a token is asked for again (the one
minted for the lost answer expires unused), and a JIT registration removes the runner
GitHub made for the lost answer before registering again under the same name. Each case
must hold the matrix's invariants (no pod or runner left) and end in a started runner.
"""

from __future__ import annotations

import pytest

from runpod_ssh_action.sim import StandIn

from .matrix import CELLS, Case, run_case
from .support import operator


def _cell(call: str, shape: str) -> Case:
    cell = next(
        c
        for c in CELLS
        if c.call == call and c.phase == "start" and c.shape == shape and not c.steer
    )
    return Case(cell, "malformed JSON")


@pytest.mark.parametrize(
    ("call", "shape"),
    [
        ("installation lookup", "runner"),
        ("access token", "runner"),
        ("generate-jitconfig", "runner"),
        ("registration-token", "token"),
        ("get runner", "runner"),
    ],
)
def test_one_truncated_github_answer_does_not_fail_the_start(
    sim: StandIn, call: str, shape: str
) -> None:
    with operator(sim) as hand:
        result = run_case(sim, hand, _cell(call, shape))
    assert result.held, result.problems
    assert result.outcome == "succeeded", result.errors

"""Random fault schedules, drawn by hypothesis: up to four faults spread over the calls
of a whole lifecycle (start, post, and stop for a runner), same invariants as the
matrix.

A lifecycle takes seconds (real pods boot, real SSH runs), so the steps run in this
process, through the entrypoint's own ``main``, to spare a Python start per step. CI
draws ``EXAMPLES`` schedules in seeded batches, the same on every run, so a failure names
the seed that reproduces it; ``RPSA_NIGHTLY=1`` draws more and shrinks what fails.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from unittest import mock

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from runpod_ssh_action import cli, context
from runpod_ssh_action.sim import Fault, StandIn

from ..conftest import Progress
from ..e2e.actionrun import Step, child_env, post_env
from .matrix import CLIENT_TIMEOUT, GENERIC, GH, RP, RUNPOD_MESSAGES, SLOW_FAULT
from .support import NIGHTLY, Operator, Tally, leak_problems, operator, outcome, step_problems

# A count, not a time budget: a loaded machine draws the same schedules as an idle one.
EXAMPLES = 1000 if NIGHTLY else 30
BATCH = 10

RUNPOD_OPERATIONS = sorted(set(RP.values()))
GITHUB_OPERATIONS = sorted(set(GH.values()))
RUNPOD_FAULTS = {**GENERIC, **RUNPOD_MESSAGES}
# A bare 429 makes the GitHub client wait a minute, too long for a drawn example.
GITHUB_FAULTS = {k: v for k, v in GENERIC.items() if k != SLOW_FAULT}


@st.composite
def schedules(draw: st.DrawFn) -> tuple[bool, list[tuple[str, int, str]]]:
    """Whether the start has a runner, and faults as (operation, calls let through
    first, fault name)."""
    runner = draw(st.booleans())
    one = st.one_of(
        st.tuples(
            st.sampled_from(RUNPOD_OPERATIONS),
            st.integers(0, 2),
            st.sampled_from(sorted(RUNPOD_FAULTS)),
        ),
        st.tuples(
            st.sampled_from(GITHUB_OPERATIONS),
            st.integers(0, 2),
            st.sampled_from(sorted(GITHUB_FAULTS)),
        ),
    )
    return runner, draw(st.lists(one, min_size=1, max_size=4))


@contextlib.contextmanager
def _as_a_step(env: dict[str, str]) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, child_env(env), clear=True),
        mock.patch.object(context, "WORK_TIMEOUT", CLIENT_TIMEOUT),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        yield out, err


def run_in_process(env: dict[str, str], *args: str) -> Step:
    with _as_a_step(env) as (out, err):
        code = cli.main(list(args) or ["main"])
    return Step(tuple(args), code, out.getvalue(), err.getvalue(), env)


def _lifecycle(sim: StandIn, runner: bool) -> tuple[dict[str, str], list[Step]]:
    env = sim.action_env(gpu_types="NVIDIA RTX A6000", ssh_user=sim.ssh_user, runner=runner)
    main = run_in_process(env)
    steps = [main, run_in_process(post_env(env, main.state), "post")]
    if runner and main.returncode == 0:
        stop_env = sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"])
        steps.append(run_in_process(stop_env))
    return env, steps


def test_random_fault_schedules_leak_nothing(
    sim: StandIn, tally: Tally, progress: Callable[..., Progress]
) -> None:
    with operator(sim) as hand:
        _explore(sim, hand, tally, progress("random fault schedules", EXAMPLES))


def _explore(sim: StandIn, hand: Operator, tally: Tally, progress: Progress) -> None:
    @settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        # Shrinking reruns whole lifecycles; CI reports the failing schedule as drawn.
        phases=tuple(Phase) if NIGHTLY else (Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(schedules())
    def lifecycle_under(schedule: tuple[bool, list[tuple[str, int, str]]]) -> None:
        runner, faults = schedule
        sim.faults.clear()
        for operation, skip, name in faults:
            table = RUNPOD_FAULTS if operation in RUNPOD_OPERATIONS else GITHUB_FAULTS
            sim.faults.add(operation, *[Fault.delay(0) for _ in range(skip)], table[name]())
        env, steps = _lifecycle(sim, runner)
        sim.faults.clear()
        problems = [p for s in steps for p in step_problems(s)] + leak_problems(sim, env)
        hand.clear(env)
        tally.add(
            "random fault schedules (hypothesis, in-process)",
            held=not problems,
            note=outcome(steps),
        )
        progress.advance(failed=bool(problems))
        assert not problems, "\n".join(problems) + "\n" + "\n".join(s.describe() for s in steps)

    # Batches of fixed seeds: the same draws on every machine; each batch draws
    # schedules of its own.
    for batch in range(EXAMPLES // BATCH):
        seed(batch)(lifecycle_under)()

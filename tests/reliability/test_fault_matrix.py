"""The fault matrix through the real entrypoint (see ``matrix.py`` for the cells).

CI runs a fixed subset: every call meets two faults, every fault several calls (see
``ci_cases``); ``RPSA_NIGHTLY=1`` runs the whole cross product. Cases run on a few
stand-ins at once (a fault queue belongs to one stand-in, so one case per stand-in at a
time), each case with a run id of its own; the test says how many are done as it goes.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack

import pytest

from runpod_ssh_action.sim import SimConfig, StandIn

from ..conftest import Progress
from .conftest import start_standins
from .matrix import (
    CELLS,
    FAULTS_PER_CELL_IN_CI,
    SLOW_FAULT,
    SLOW_IN_CI,
    Case,
    CaseResult,
    cases,
    ci_cases,
    run_case,
)
from .support import NIGHTLY, Operator, Tally, operator, quiet

LANES = 3
GROUPS = [(api, phase) for api in ("RunPod", "GitHub") for phase in ("start", "post", "stop")]


@pytest.fixture(scope="module")
def lanes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[StandIn, Operator]]]:
    with ExitStack() as stack:
        sims = start_standins(
            stack, tmp_path_factory.mktemp("matrix"), LANES, SimConfig(boot_delay=0.2)
        )
        yield [(sim, stack.enter_context(operator(sim))) for sim in sims]


def run_on_lanes(
    lanes: list[tuple[StandIn, Operator]], chosen: list[Case], progress: Progress
) -> list[CaseResult]:
    free: queue.Queue[tuple[StandIn, Operator]] = queue.Queue()
    for lane in lanes:
        free.put(lane)

    def one(case: Case) -> CaseResult:
        sim, hand = free.get()
        try:
            return run_case(sim, hand, case)
        except Exception as exc:  # a broken case is a failed case, not a lost lane
            sim.faults.clear()
            return CaseResult(case, [f"the case broke: {exc!r}"], "broken", 0.0, str(exc))
        finally:
            free.put((sim, hand))

    with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="lane") as pool:
        futures = [pool.submit(one, case) for case in chosen]
        for future in as_completed(futures):
            progress.advance(failed=not future.result().held)
        return [future.result() for future in futures]


@pytest.mark.parametrize(("api", "phase"), GROUPS, ids=[f"{a}-{p}" for a, p in GROUPS])
def test_one_fault_on_any_call_leaks_nothing(
    lanes: list[tuple[StandIn, Operator]],
    tally: Tally,
    progress: Callable[..., Progress],
    api: str,
    phase: str,
) -> None:
    everything = cases(CELLS) if NIGHTLY else ci_cases()
    chosen = [c for c in everything if c.cell.api == api and c.cell.phase == phase]
    assert chosen
    results = run_on_lanes(
        lanes, chosen, progress(f"fault matrix: {api} calls in {phase}", len(chosen))
    )
    for result in results:
        tally.add(
            f"fault matrix: {api} calls in {phase}",
            held=result.held,
            note=result.outcome,
        )
    broken = [r for r in results if not r.held]
    assert not broken, "\n".join(f"{r.case.name}: {'; '.join(r.problems)}" for r in broken) + (
        "\n\n" + "\n\n".join(f"{r.case.name}:\n{quiet(r.log)[-3000:]}" for r in broken)
    )


def test_ci_meets_every_call_and_every_fault_with_a_fixed_count() -> None:
    chosen = ci_cases()
    assert chosen == ci_cases()
    assert len(set(chosen)) == len(chosen)
    for cell in CELLS:
        mine = [case for case in chosen if case.cell == cell]
        assert len(mine) >= FAULTS_PER_CELL_IN_CI, cell.name
    for api in ("RunPod", "GitHub"):
        every = {fault for cell in CELLS if cell.api == api for fault in cell.faults}
        met = {case.fault for case in chosen if case.cell.api == api}
        assert met == every, api
    slow = [case for case in chosen if case.cell.api == "GitHub" and case.fault == SLOW_FAULT]
    assert [case.cell for case in slow] == [SLOW_IN_CI]
    assert len(chosen) == 1 + FAULTS_PER_CELL_IN_CI * len(CELLS) < len(cases(CELLS)) / 5

"""Twenty starts at once on one RunPod key, against a stand-in that enforces RunPod's
budget (100 calls a minute, 10 a second, per key). Every start ends, in success or in
one clear error; a 429 is never shown raw; and after the post steps nothing is left."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from runpod_ssh_action.sim import SimConfig, StandIn

from ..e2e import actionrun as action
from .conftest import start_standins
from .support import A6000, NIGHTLY, Tally, leak_problems, outcome, step_problems

STARTS = 40 if NIGHTLY else 20


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    config = SimConfig(boot_delay=0.2, rate_limit=True, free_gpus=STARTS + 4)
    with ExitStack() as stack:
        (sim,) = start_standins(stack, tmp_path_factory.mktemp("limited"), 1, config)
        yield sim


def test_starts_sharing_one_key_all_end_cleanly_and_leave_nothing(
    limited: StandIn, tally: Tally
) -> None:
    sim = limited
    envs = [
        sim.action_env(gpu_types=A6000, runner=False, ssh_user=sim.ssh_user) for _ in range(STARTS)
    ]
    starting = [action.launch(env) for env in envs]
    mains = [running.wait(600) for running in starting]
    posting = [action.launch(action.post_env(m.env, m.state), "post") for m in mains]
    posts = [running.wait(600) for running in posting]
    limited_answers = sum(1 for r in sim.requests(api="runpod") if r.status == 429)
    problems: dict[str, list[str]] = {}
    for env, main, post in zip(envs, mains, posts, strict=True):
        found = step_problems(main) + step_problems(post) + leak_problems(sim, env)
        tally.add(
            f"{STARTS} starts on one key, rate limit enforced",
            held=not found,
            note=outcome([main]),
        )
        if found:
            problems[env["GITHUB_RUN_ID"]] = [*found, main.describe(), post.describe()]
    tally.add(
        "shared key: the budget was in play",
        held=limited_answers > 0,
        note=f"{limited_answers} answers of 429",
    )
    assert not problems, "\n\n".join(f"run {run}: " + "\n".join(p) for run, p in problems.items())
    # The budget really was in play, or this test proves nothing.
    assert limited_answers > 0

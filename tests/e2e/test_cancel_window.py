"""A cancel while RunPod is slow to answer a terminate.

The runner's cancel is SIGINT, SIGTERM 7.5 s later, and 2.5 s after that a kill of the
docker CLI only (actions/runner src/Runner.Sdk/ProcessInvoker.cs); the post step then
starts with the state written so far. A terminate whose answer has not come when the
main step's cancel budget runs out is "sent, not confirmed": the post step confirms it.
No pod may be reported as left running while it is not, and nothing is left after post.
"""

from __future__ import annotations

from pathlib import Path

from runpod_ssh_action.sim import StandIn
from runpod_ssh_action.sim.faults import Fault
from runpod_ssh_action.workflow import parse_file_commands

from . import actionrun
from .actionrun import wait_until

A6000 = "NVIDIA RTX A6000"
# The teardown client waits 4 s for an answer and tries twice within its 6 s: hold
# longer than that, so both tries of each of the two pods see no answer.
SILENT_TERMINATES = 4
HOLD = 9.0


def test_an_unanswered_terminate_is_confirmed_by_post_not_reported_as_left(sim: StandIn) -> None:
    env = sim.action_env(count=2, gpu_types=A6000, ssh_user=sim.ssh_user)
    running = actionrun.launch(env)

    def saved_pods() -> list[str]:
        text = parse_file_commands(Path(env["GITHUB_STATE"]).read_text()).get("pods", "")
        return [p for p in text.split(",") if p]

    # Each pod's id is in the state file as soon as it exists, before the start ends.
    wait_until(lambda: len(sim.all_pods()) == 2, 60, "two pods to be created")
    wait_until(
        lambda: sorted(saved_pods()) == sorted(p.id for p in sim.all_pods()),
        10,
        "both pod ids to reach GITHUB_STATE",
    )
    sim.faults.add("podTerminate", *[Fault.timeout(HOLD) for _ in range(SILENT_TERMINATES)])

    main = running.cancel()

    assert main.returncode == 1, main.describe()
    assert not [line for line in main.errors if "Pod left running" in line], main.describe()
    unconfirmed = [line for line in main.lines if "not confirmed" in line]
    assert len(unconfirmed) == 1 and unconfirmed[0].startswith("::warning"), main.describe()

    posted = actionrun.post(main)

    assert posted.returncode == 0, posted.describe()
    assert posted.errors == [], posted.describe()
    assert [p.id for p in sim.live_pods()] == []
    assert sim.github.runners() == []
    assert "not confirmed" not in posted.stdout

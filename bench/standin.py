"""The stand-in as every benchmark sets it up: the same provider timings and inputs."""

from __future__ import annotations

from pathlib import Path

from runpod_ssh_action.sim import SimConfig, StandIn

GPU = "NVIDIA RTX A6000"
# Enough free GPUs that 30 pods all land on the first rung of the capacity ladder.
FREE_GPUS = 64
RUNNER_ONLINE_DELAY = 1.0


def stand_in(workdir: Path, boot_delay: float) -> StandIn:
    """A stand-in whose pods answer SSH ``boot_delay`` seconds after their create, and
    which holds the action to RunPod's budget of 100 requests a minute (10 a second)."""
    config = SimConfig(
        boot_delay=boot_delay,
        runner_online_delay=RUNNER_ONLINE_DELAY,
        rate_limit=True,
        free_gpus=FREE_GPUS,
    )
    return StandIn(config, workdir=workdir)


def start_env(sim: StandIn, *, count: int = 1, runner: bool = True) -> dict[str, str]:
    # Pods are logged in to as an ordinary user: root's shell start-up on a developer
    # machine (pyenv, conda) can cost a third of a second per SSH session, which says
    # nothing about the action and which a pod's image does not have.
    return sim.action_env(count=count, runner=runner, gpu_types=GPU, ssh_user=sim.unprivileged_user)

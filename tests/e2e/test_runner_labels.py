"""Who can take a pod's runner: only jobs asking for this start's label.

A runner that carried self-hosted, linux and x64 would take any job with
``runs-on: self-hosted``, a fork's pull request included; on a public repository such
a job can sit queued until a pod comes online. Every check reads the stand-in's own
record: the labels GitHub holds, the jobs it handed out, the creates RunPod saw.
"""

from __future__ import annotations

from runpod_ssh_action.sim import StandIn

from . import actionrun

A6000 = "NVIDIA RTX A6000"
CREATES = ("podRentInterruptable", "podFindAndDeployOnDemand")


def _labels(runner: dict[str, object]) -> list[str]:
    labels = runner["labels"]
    assert isinstance(labels, list)
    return [label["name"] for label in labels]


def _only_the_label_takes_the_runner(sim: StandIn, label: str) -> None:
    """A job asking for self-hosted stays queued; the start's own label runs."""
    stray = sim.github.dispatch_job("self-hosted", "echo stray")
    job = sim.github.dispatch_job(label, "echo mine")
    assert sim.github.wait_until(lambda: sim.github.job(job)["status"] == "completed", 60)
    assert sim.github.job(stray)["status"] == "queued"


def _stop(sim: StandIn, started: actionrun.Step, **inputs: str | None) -> None:
    stopped = actionrun.run(
        sim.action_env(mode="stop", run_id=started.env["GITHUB_RUN_ID"], **inputs)
    )
    assert stopped.returncode == 0, stopped.stdout
    assert sim.live_pods() == [] and sim.github.runners() == []


def test_jit_runner_has_only_the_start_label_and_the_users(sim: StandIn) -> None:
    # A public repository that said yes starts like any other.
    env = sim.action_env(
        gpu_types=A6000,
        ssh_user=sim.ssh_user,
        runner_labels="gpu-big",
        allow_public_repository=True,
        repository_visibility="public",
    )
    started = actionrun.run(env)
    assert started.returncode == 0, started.stdout + started.stderr
    label = started.outputs["runner-label"]
    (runner,) = sim.github.runners()
    assert _labels(runner) == [label, "gpu-big"]
    _only_the_label_takes_the_runner(sim, label)
    _stop(sim, started)


def test_token_runner_has_no_default_labels_and_joins_its_org_group(sim: StandIn) -> None:
    sim.github.add_runner_group(2, "gpu")
    token = {"github_app_id": None, "github_app_private_key": None, "github_token": sim.pat}
    env = sim.action_env(
        gpu_types=A6000,
        ssh_user=sim.ssh_user,
        runner_registration="token",
        runner_scope="org",
        runner_group_id=2,
        **token,
    )
    started = actionrun.run(env)
    assert started.returncode == 0, started.stdout + started.stderr
    label = started.outputs["runner-label"]
    (runner,) = sim.github.runners()
    assert _labels(runner) == [label]
    assert (runner["scope"], runner["runner_group_id"]) == ("org", 2)
    _only_the_label_takes_the_runner(sim, label)
    _stop(sim, started, runner_scope="org", **token)


def test_a_public_repository_is_refused_before_anything_is_rented(sim: StandIn) -> None:
    env = sim.action_env(gpu_types=A6000, repository_visibility="public")
    refused = actionrun.run(env)
    assert refused.returncode == 1
    (error,) = refused.errors
    assert "allow-public-repository" in error and "fork" in error
    assert sum(len(sim.requests(api="runpod", operation=op)) for op in CREATES) == 0
    assert sim.live_pods() == [] and sim.github.runners() == []

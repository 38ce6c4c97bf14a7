"""The real entrypoint, start to finish, against the stand-in.

Every assertion about money or runners reads the stand-in's own record (live pods,
registered runners, requests seen), not the action's word.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runpod_ssh_action.clock import SystemClock
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.runpod import PodSpec, RunPodClient
from runpod_ssh_action.sim import StandIn
from runpod_ssh_action.transport import ApiLog

from . import actionrun
from .actionrun import wait_until

A4090 = "NVIDIA GeForce RTX 4090"
A6000 = "NVIDIA RTX A6000"


def live(sim: StandIn) -> list[str]:
    return [p.id for p in sim.live_pods()]


def create_foreign_pod(sim: StandIn, name: str) -> str:
    """A pod on the same account that this action did not make."""
    client = RunPodClient(
        sim.runpod_api_key,
        url=sim.runpod_url,
        clock=SystemClock(),
        masker=Masker(),
        log=ApiLog(Masker()),
        ca_bundle=sim.ca_bundle,
    )
    with client:
        return client.create_on_demand(PodSpec(name=name, gpu_type_id=A6000, image_name="x")).id


def test_paired_start_job_stop_with_an_app_and_jit(sim: StandIn) -> None:
    env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user)
    started = actionrun.run(env)
    assert started.returncode == 0, started.stdout + started.stderr
    out = started.outputs
    pod_id, label = out["pod-id"], out["runner-label"]
    assert live(sim) == [pod_id]
    runner = sim.github.runners()[0]
    assert runner["status"] == "online" and label in [x["name"] for x in runner["labels"]]
    assert json.loads(out["pods"])[0]["id"] == pod_id
    # The installation token was revoked once the runner was up.
    assert sim.github.issued_tokens and set(sim.github.issued_tokens) <= sim.github.revoked_tokens

    job = sim.github.dispatch_job(label, "echo job ran on $RUNPOD_POD_ID")
    assert sim.github.wait_until(lambda: sim.github.job(job)["status"] == "completed", 60)
    assert sim.github.job(job)["exit_code"] == 0
    assert pod_id in sim.github.job(job)["output"]
    # The runner took its one job; the pod's watchdog ends the pod with its own key.
    wait_until(lambda: not live(sim), 60, "the pod to terminate itself after its job")
    assert sim.pod(pod_id).ended_by == "api"

    stopped = actionrun.run(sim.action_env(mode="stop", pod_id=pod_id))
    assert stopped.returncode == 0, stopped.stdout
    assert live(sim) == [] and sim.github.runners() == []
    assert "already gone" in stopped.summary


def test_ssh_only_with_a_real_login_and_the_post_step(sim: StandIn, tmp_path: Path) -> None:
    env = sim.action_env(runner=False, ssh_user=sim.ssh_user)
    started = actionrun.run(env)
    assert started.returncode == 0, started.stdout + started.stderr
    out = started.outputs
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(out["ssh-known-hosts"])
    key = out["ssh-key-path"].replace("$RUNNER_TEMP", env["RUNNER_TEMP"])
    login = subprocess.run(
        [
            "ssh",
            "-i",
            key,
            "-p",
            out["ssh-port"],
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            f"{out['ssh-user']}@{out['ssh-host']}",
            "echo $RUNPOD_POD_ID",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == out["pod-id"]
    assert sim.github.runners() == []

    posted = actionrun.post(started)
    assert posted.returncode == 0, posted.stdout
    assert live(sim) == []
    assert not Path(key).exists()


def test_three_pods_share_one_label_and_one_poll_per_round(sim: StandIn, tmp_path: Path) -> None:
    started = actionrun.run(sim.action_env(count=3, gpu_types=A6000, ssh_user=sim.ssh_user))
    assert started.returncode == 0, started.stdout + started.stderr
    pods = started.outputs["pod-id"].split(",")
    assert len(pods) == 3 and sorted(live(sim)) == sorted(pods)
    label = started.outputs["runner-label"]
    runners = sim.github.runners()
    assert len(runners) == 3
    assert all(label in [x["name"] for x in r["labels"]] for r in runners)
    polls = sim.requests(api="runpod", operation="pod")
    first_ready = min(p.ready_at for p in sim.all_pods() if p.ready_at)
    before = [r for r in polls if r.started < first_ready]
    assert before, "the action polled before any pod was ready"
    assert all(sorted(r.pod_ids) == sorted(pods) for r in before)
    # Every pod is reachable with strict host-key checking from the outputs alone.
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(started.outputs["ssh-known-hosts"])
    key = started.outputs["ssh-key-path"]
    for pod in json.loads(started.outputs["pods"]):
        login = subprocess.run(
            [
                "ssh",
                "-i",
                key,
                "-p",
                str(pod["ssh-port"]),
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={known_hosts}",
                f"{sim.ssh_user}@{pod['ssh-host']}",
                "echo $RUNPOD_POD_ID",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert login.stdout.strip() == pod["id"], login.stderr

    stopped = actionrun.run(sim.action_env(mode="stop", run_id=started.env["GITHUB_RUN_ID"]))
    assert stopped.returncode == 0, stopped.stdout
    assert live(sim) == [] and sim.github.runners() == []


def test_spot_withdrawn_falls_back_to_on_demand_along_the_ladder(sim: StandIn) -> None:
    sim.withdraw_spot()
    sim.set_capacity(A4090, spot=False, free=0)
    started = actionrun.run(
        sim.action_env(gpu_types=f"{A4090}\n{A6000}", runner=False, ssh_user=sim.ssh_user)
    )
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.outputs["gpu-type"] == A6000
    assert started.outputs["capacity"] == "on-demand"
    (pod,) = sim.live_pods()
    assert not pod.spot and pod.create_operation == "podFindAndDeployOnDemand"
    assert "no spot offer" in started.summary
    assert actionrun.post(started).returncode == 0
    assert live(sim) == []


def test_max_price_refuses_the_expensive_rung(sim: StandIn) -> None:
    started = actionrun.run(
        sim.action_env(
            gpu_types=f"NVIDIA H100 80GB HBM3,{A6000}",
            capacity="on-demand",
            max_price_per_hour="1.0",
            runner=False,
            ssh_user=sim.ssh_user,
        )
    )
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.outputs["gpu-type"] == A6000
    assert "over max-price-per-hour" in started.summary
    assert [p.gpu_type_id for p in sim.all_pods()] == [A6000]
    assert actionrun.post(started).returncode == 0


def test_stop_without_pod_ids_finds_the_runs_pods_by_name(sim: StandIn) -> None:
    started = actionrun.run(sim.action_env(count=2, gpu_types=A6000, ssh_user=sim.ssh_user))
    assert started.returncode == 0, started.stdout + started.stderr
    other = actionrun.run(sim.action_env(gpu_types=A6000, runner=False, ssh_user=sim.ssh_user))
    assert other.returncode == 0

    stopped = actionrun.run(sim.action_env(mode="stop", run_id=started.env["GITHUB_RUN_ID"]))
    assert stopped.returncode == 0, stopped.stdout
    assert live(sim) == [other.outputs["pod-id"]]
    assert sim.github.runners() == []
    assert actionrun.post(other).returncode == 0


def test_a_cancelled_start_leaves_nothing_after_the_post_step(sim: StandIn) -> None:
    env = sim.action_env(count=2, gpu_types=A6000, ssh_user=sim.ssh_user)
    running = actionrun.launch(env)
    wait_until(lambda: len(sim.all_pods()) >= 1, 60, "a pod to be created")
    cancelled = running.cancel()
    assert cancelled.returncode != 0
    posted = actionrun.post(cancelled)
    assert posted.returncode == 0, posted.stdout
    wait_until(lambda: not live(sim), 10, "every pod to be gone")
    assert sim.github.runners() == []


def test_the_pod_ends_itself_when_no_job_comes(sim: StandIn) -> None:
    started = actionrun.run(
        sim.action_env(gpu_types=A6000, idle_timeout_minutes="0.05", ssh_user=sim.ssh_user)
    )
    assert started.returncode == 0, started.stdout + started.stderr
    pod_id = started.outputs["pod-id"]
    wait_until(lambda: not live(sim), 60, "the idle watchdog to end the pod")
    assert sim.pod(pod_id).ended_by == "api"

    # It was the pod's own key, not the account's, that ended it.
    def terminations() -> list[str | None]:
        return [r.principal for r in sim.requests(api="runpod", operation="podTerminate")]

    wait_until(terminations, 10, "the stand-in to record the terminate call")
    assert set(terminations()) == {f"pod:{pod_id}"}


def test_every_pod_carries_a_server_side_deadline(sim: StandIn) -> None:
    before = datetime.now(UTC)
    started = actionrun.run(
        sim.action_env(runner=False, max_lifetime_minutes=30, ssh_user=sim.ssh_user)
    )
    assert started.returncode == 0, started.stdout + started.stderr
    (pod,) = sim.all_pods()
    deadline = datetime.fromisoformat(pod.create_input["terminateAfter"].replace("Z", "+00:00"))
    assert before + timedelta(minutes=29) < deadline < before + timedelta(minutes=31)
    assert pod.create_input["ports"] == "22/tcp" and pod.create_input["volumeInGb"] == 0
    assert actionrun.post(started).returncode == 0


def test_reap_ends_only_this_actions_finished_pods(sim: StandIn) -> None:
    finished = actionrun.run(sim.action_env(gpu_types=A6000, runner=False, ssh_user=sim.ssh_user))
    running = actionrun.run(sim.action_env(gpu_types=A6000, runner=False, ssh_user=sim.ssh_user))
    assert finished.returncode == 0 and running.returncode == 0
    sim.github.add_workflow_run(int(finished.env["GITHUB_RUN_ID"]), "completed", "success")
    sim.github.add_workflow_run(int(running.env["GITHUB_RUN_ID"]), "in_progress", None)
    foreign = create_foreign_pod(sim, "someone-elses-pod")

    dry = actionrun.run(sim.action_env(mode="reap", dry_run=True))
    assert dry.returncode == 0, dry.stdout
    assert len(live(sim)) == 3

    reaped = actionrun.run(sim.action_env(mode="reap"))
    assert reaped.returncode == 0, reaped.stdout
    assert sorted(live(sim)) == sorted([running.outputs["pod-id"], foreign])
    assert actionrun.post(running).returncode == 0


def test_registration_token_path_with_a_pat(sim: StandIn) -> None:
    env = sim.action_env(
        github_app_id=None,
        github_app_private_key=None,
        github_token=sim.pat,
        runner_registration="token",
        gpu_types=A6000,
        ssh_user=sim.ssh_user,
    )
    started = actionrun.run(env)
    assert started.returncode == 0, started.stdout + started.stderr
    label = started.outputs["runner-label"]
    job = sim.github.dispatch_job(label, "true")
    assert sim.github.wait_until(lambda: sim.github.job(job)["status"] == "completed", 60)
    stopped = actionrun.run(
        sim.action_env(
            mode="stop",
            run_id=started.env["GITHUB_RUN_ID"],
            github_app_id=None,
            github_app_private_key=None,
            github_token=sim.pat,
        )
    )
    assert stopped.returncode == 0, stopped.stdout
    assert live(sim) == [] and sim.github.runners() == []

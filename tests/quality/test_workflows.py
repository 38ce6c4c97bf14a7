"""The workflows that run the action itself: CI runs it through the real runner against
the stand-in, and the live workflow against the real RunPod and GitHub always stops what
it started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def _load(name: str) -> dict[Any, Any]:
    data = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def _steps_using_the_action(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses") == "./"]


def test_ci_runs_the_action_through_the_runner_against_the_stand_in() -> None:
    job = _load("ci.yml")["jobs"]["action"]
    assert job["runs-on"] == "ubuntu-latest"
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "runpod_ssh_action.sim serve" in runs and "--host" in runs
    steps = _steps_using_the_action(job)
    # SSH only (with its post step), and a start cancelled by its step's timeout.
    assert any(step["with"].get("runner") is False for step in steps)
    cancelled = [step for step in steps if "timeout-minutes" in step]
    assert cancelled and all(step.get("continue-on-error") for step in cancelled)
    for step in steps:
        assert step["env"]["REQUESTS_CA_BUNDLE"].startswith("/github/workspace/")
    assert "runpod-ssh-action start" in runs and "runpod-ssh-action stop" in runs


def test_live_is_on_request_and_weekly_and_always_stops() -> None:
    live = _load("live.yml")
    triggers = live["on"]
    assert "workflow_dispatch" in triggers and triggers["schedule"]
    jobs = live["jobs"]
    for name in ("ssh-only", "start"):
        (step,) = _steps_using_the_action(jobs[name])
        assert step["with"]["max-lifetime-minutes"] == 20
        assert step["with"]["max-price-per-hour"]
    assert _steps_using_the_action(jobs["ssh-only"])[0]["with"]["runner"] is False
    stop = jobs["stop"]
    assert "always()" in stop["if"] and "start" in stop["needs"]
    assert _steps_using_the_action(stop)[0]["with"]["mode"] == "stop"
    # Secrets cannot be read in a job's `if:`; every job that spends waits for the gate.
    for name, job in jobs.items():
        assert "secrets." not in str(job.get("if", "")), name

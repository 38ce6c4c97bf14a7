"""Which runner the pods install, and a runner GitHub refuses, against the stand-in.

GitHub stops giving jobs to a runner version about 30 days after a newer release
(actions/runner #4305, #4392): the default start must install the newest release, and
a pinned expired version must fail the start at once with GitHub's own words.
"""

from __future__ import annotations

from runpod_ssh_action.sim import StandIn

from . import actionrun

A6000 = "NVIDIA RTX A6000"
DEPRECATED = '"Runner version v2.998.0 is deprecated and cannot receive messages"'


def operations(sim: StandIn) -> list[str]:
    return [call.operation for call in sim.github.rest_calls]


def test_a_default_start_installs_the_newest_release(sim: StandIn) -> None:
    sim.add_runner_release("2.998.0")
    newest = "3.0.1"
    sim.add_runner_release(newest)
    # Only the newest is accepted: a start that installed anything else never comes online.
    sim.refuse_runners_below(newest)
    env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user)
    started = actionrun.run(env)
    assert started.returncode == 0, started.describe()
    assert operations(sim).count("repos/get-latest-release") == 1
    assert "repos/get-release-by-tag" not in operations(sim)
    assert [r["status"] for r in sim.github.runners()] == ["online"]
    assert not [line for line in started.lines if line.startswith("::warning")]
    stopped = actionrun.run(sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"]))
    assert stopped.returncode == 0, stopped.describe()


def test_a_pinned_expired_version_fails_at_once_with_githubs_reason(sim: StandIn) -> None:
    sha256 = sim.add_runner_release("2.998.0")
    sim.refuse_runners_below(sim.runner_version)
    env = sim.action_env(
        gpu_types=A6000,
        ssh_user=sim.ssh_user,
        runner_version="2.998.0",
        # Long enough that only an early failure ends the step within the run's timeout.
        startup_timeout_minutes=30,
    )
    started = actionrun.run(env, timeout=180)
    assert started.returncode == 1, started.describe()
    assert "repos/get-release-by-tag" in operations(sim)
    warnings = [line for line in started.lines if line.startswith("::warning")]
    assert any("not the newest runner release" in w and "2.999.0" in w for w in warnings)
    (error,) = started.errors
    assert DEPRECATED in error and "runner-version" in error, error
    assert sha256 not in error
    # The failing start tore down everything it made.
    assert sim.live_pods() == []
    assert sim.github.runners() == []

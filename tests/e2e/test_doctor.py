"""``runpod-ssh-action doctor`` through the real CLI against the stand-in: every row is a
real call, a failing row carries its fix, and nothing is ever rented."""

from __future__ import annotations

import re

from runpod_ssh_action.sim import StandIn

from . import actionrun

A6000 = "NVIDIA RTX A6000"
CREATES = ("podFindAndDeployOnDemand", "podRentInterruptable", "deployCpuPod")


def doctor(sim: StandIn, **inputs: str | None) -> actionrun.Step:
    env = sim.action_env(**inputs)
    # Both names RunPod's tools use for the GraphQL URL, whichever the action reads.
    env.setdefault("RUNPOD_API_URL", sim.runpod_url)
    env.setdefault("RUNPOD_GRAPHQL_URL", sim.runpod_url)
    return actionrun.run(env, "doctor", timeout=120)


def row(step: actionrun.Step, check: str) -> str:
    """The table line of one check (the first column is the check's name)."""
    for line in step.lines:
        if re.match(rf"{re.escape(check)}\s{{2,}}", line):
            return line
    raise AssertionError(f"no row {check!r} in:\n{step.stdout}")


def fix_of(step: actionrun.Step, check: str) -> str:
    """The fix printed under a failing row."""
    after = step.lines[step.lines.index(row(step, check)) + 1]
    assert after.lstrip().startswith("fix: "), step.stdout
    return after


def printed(step: actionrun.Step) -> str:
    """What a reader of the log sees: ``::add-mask::`` lines are how the runner learns a
    secret, and it never shows them."""
    shown = [line for line in step.lines if not line.startswith("::add-mask::")]
    return "\n".join(shown) + step.stderr


def assert_nothing_rented(sim: StandIn) -> None:
    for operation in CREATES:
        assert sim.requests("runpod", operation) == [], operation
    assert sim.all_pods() == []


def released(sim: StandIn) -> dict[str, str | None]:
    """Inputs for the runner release the stand-in's GitHub publishes (no custom URL)."""
    return {
        "runner_download_url": None,
        "runner_version": sim.runner_version,
        "runner_sha256": sim.runner_sha256,
    }


def test_a_sound_set_up_is_all_green_and_rents_nothing(sim: StandIn) -> None:
    step = doctor(sim, gpu_types=f"{A6000}\nNVIDIA GeForce RTX 4090", **released(sim))
    assert step.returncode == 0, step.describe()
    assert " ok " in row(step, "RunPod API key")
    a6000 = row(step, f"GPU {A6000}")
    assert " ok " in a6000 and "on-demand $" in a6000 and "spot from $" in a6000
    assert " ok " in row(step, "GPU NVIDIA GeForce RTX 4090")
    assert " ok " in row(step, "GitHub credentials")
    assert " ok " in row(step, "Runner permission")
    assert " ok " in row(step, "Runner group")
    assert sim.runner_sha256 in row(step, "Runner release")
    assert " ok " in row(step, "Runner release")
    assert " ok " in row(step, "RunPod endpoint")
    assert " ok " in row(step, "GitHub endpoint")
    # Each row is a real call: the key, the GPU types, the App's installation, the runners.
    assert sim.requests("runpod", "myself") and sim.requests("runpod", "gpuTypes")
    assert sim.requests("github", "apps/get-repo-installation")
    assert sim.requests("github", "actions/list-self-hosted-runners-for-repo")
    assert sim.requests("github", "repos/get-release-by-tag")
    # The installation token it minted is revoked again.
    assert set(sim.github.issued_tokens) <= sim.github.revoked_tokens
    assert_nothing_rented(sim)
    assert sim.runpod_api_key not in printed(step)
    assert "### runpod-ssh-action doctor" in step.summary


def test_a_refused_key_fails_its_row_with_the_fix(sim: StandIn) -> None:
    wrong = "rpa_" + "X" * 44
    step = doctor(sim, runpod_api_key=wrong, gpu_types=A6000)
    assert step.returncode == 1, step.describe()
    assert " FAIL " in row(step, "RunPod API key")
    assert "runpod-api-key" in fix_of(step, "RunPod API key")
    assert " skipped " in row(step, f"GPU {A6000}")
    assert wrong not in printed(step)
    assert_nothing_rented(sim)


def test_an_unknown_gpu_type_fails_its_row(sim: StandIn) -> None:
    step = doctor(sim, gpu_types=f"{A6000}, NVIDIA Imaginary 9000")
    assert step.returncode == 1, step.describe()
    assert " ok " in row(step, f"GPU {A6000}")
    unknown = row(step, "GPU NVIDIA Imaginary 9000")
    assert " FAIL " in unknown and "lists no GPU type" in unknown
    assert "runpod-ssh-action gpus" in fix_of(step, "GPU NVIDIA Imaginary 9000")
    assert_nothing_rented(sim)


def test_without_github_credentials_the_github_rows_are_skipped(sim: StandIn) -> None:
    step = doctor(sim, github_app_id=None, github_app_private_key=None, gpu_types=A6000)
    assert step.returncode == 0, step.describe()
    for check in ("GitHub credentials", "Runner permission", "Runner group", "Runner release"):
        assert " skipped " in row(step, check)
    assert sim.requests("github") == [] or all(
        r.operation.startswith("release/") for r in sim.requests("github")
    )
    assert_nothing_rented(sim)


def test_an_outdated_runner_release_warns_and_a_wrong_digest_fails(sim: StandIn) -> None:
    newer = "3.0.0"
    sim.github.add_runner_release(newer)
    step = doctor(sim, gpu_types=A6000, **released(sim))
    assert step.returncode == 0, step.describe()
    assert " warn " in row(step, "Runner release") and f"v{newer} is out" in step.stdout
    assert "runner-version" in fix_of(step, "Runner release")

    wrong = doctor(sim, gpu_types=A6000, **{**released(sim), "runner_sha256": "0" * 64})
    assert wrong.returncode == 1, wrong.describe()
    assert " FAIL " in row(wrong, "Runner release")
    assert "runner-sha256" in fix_of(wrong, "Runner release")

"""The command line and the container entry points: flags are inputs, bad inputs stop
everything with one annotation each, secrets are masked first, signals cancel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path

import pytest

import runpod_ssh_action.settings as settings_module
from runpod_ssh_action import __version__, cli
from runpod_ssh_action.errors import ActionError
from runpod_ssh_action.settings import INPUTS, Settings
from runpod_ssh_action.workflow import Workflow

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "rpa_CLITESTKEY0123456789"
TOKEN = "ghp_CLITESTTOKEN0123456789"


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A clean process environment: the suite may itself run inside Actions, whose
    GITHUB_OUTPUT and friends a test must never write to."""
    for name in list(os.environ):
        if name.startswith(("INPUT_", "GITHUB_", "STATE_", "RUNNER_", "RUNPOD_")):
            monkeypatch.delenv(name)
    summary = tmp_path / "summary.md"
    summary.touch()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_RUNPOD-API-KEY": API_KEY,
        "INPUT_GITHUB-TOKEN": TOKEN,
        "GITHUB_REPOSITORY": "octo-org/gpu-repo",
        "GITHUB_RUN_ID": "777",
        "GITHUB_RUN_ATTEMPT": "1",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


class FakeLifecycle:
    """Stands in for runpod_ssh_action.lifecycle (imported lazily by main)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Settings]] = []
        self.behaviour: Callable[[Workflow, threading.Event], int] = lambda wf, ev: 0

    def run(
        self, command: str, settings: Settings, workflow: Workflow, cancelled: threading.Event
    ) -> int:
        self.calls.append((command, settings))
        return self.behaviour(workflow, cancelled)


@pytest.fixture
def lifecycle(monkeypatch: pytest.MonkeyPatch) -> FakeLifecycle:
    fake = FakeLifecycle()
    module = types.ModuleType("runpod_ssh_action.lifecycle")
    module.run = fake.run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "runpod_ssh_action.lifecycle", module)
    return fake


# --- parse_args -------------------------------------------------------------------


def test_every_input_is_a_flag() -> None:
    argv = ["status"]
    for spec in INPUTS:
        argv += [f"--{spec.name}", f"v-{spec.name}"]
    args = cli.parse_args(argv)
    assert args.command == "status"
    assert args.overrides == {spec.name: f"v-{spec.name}" for spec in INPUTS}


def test_only_given_flags_become_overrides() -> None:
    args = cli.parse_args(["gpus", "--gpu-count", "2", "--cloud-type=secure"])
    assert args == cli.CliArgs("gpus", {"gpu-count": "2", "cloud-type": "secure"})


def test_every_flag_takes_a_value_so_none_can_swallow_the_command() -> None:
    args = cli.parse_args(["--dry-run", "true", "reap", "--runner", "false"])
    assert args.overrides == {"dry-run": "true", "runner": "false", "mode": "reap"}
    with pytest.raises(SystemExit):
        cli.parse_args(["reap", "--dry-run"])


def test_mode_commands_set_the_mode() -> None:
    assert cli.parse_args(["stop"]).overrides == {"mode": "stop"}
    assert cli.parse_args(["start", "--mode", "START"]).overrides == {"mode": "start"}
    assert "mode" not in cli.parse_args(["post"]).overrides
    assert cli.parse_args(["main", "--mode", "reap"]).overrides == {"mode": "reap"}


def test_contradicting_mode_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["start", "--mode", "stop"])
    assert info.value.code == 2
    assert "contradicts" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [[], ["launch"], ["start", "--gpu_count", "1"], ["start", "--nope"]]
)
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_args(argv)
    assert info.value.code == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"runpod-ssh-action {__version__}"


# --- main -------------------------------------------------------------------------


def test_bad_inputs_return_1_with_one_error_line_each(
    environ: dict[str, str],
    lifecycle: FakeLifecycle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("INPUT_GPU-COUNT", "two")
    monkeypatch.setenv("INPUT_CLOUD-TYPE", "moon")
    code = cli.main(["start", "--count", "99"])
    assert code == 1
    assert lifecycle.calls == []
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "::error title=Invalid input::Input 'gpu-count' is invalid: must be a whole number "
        "from 1 to 8, got 'two'.",
        "::error title=Invalid input::Input 'count' is invalid: must be a whole number "
        "from 1 to 50, got '99'.",
        "::error title=Invalid input::Input 'cloud-type' is invalid: must be ALL, SECURE or "
        "COMMUNITY, got 'moon'.",
    ]
    summary = Path(environ["GITHUB_STEP_SUMMARY"]).read_text()
    assert "invalid inputs" in summary and "gpu-count" in summary


def test_bad_secret_is_never_printed(
    environ: dict[str, str],
    lifecycle: FakeLifecycle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("INPUT_RUNPOD-API-KEY", "rpa_LEAKME leak")
    assert cli.main(["start"]) == 1
    out = capsys.readouterr().out
    assert "LEAKME" not in out
    assert out.count("::error") == 1
    assert "LEAKME" not in Path(environ["GITHUB_STEP_SUMMARY"]).read_text()


def test_main_masks_secrets_first_then_runs_the_mode(
    environ: dict[str, str],
    lifecycle: FakeLifecycle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("INPUT_MODE", "stop")
    assert cli.main(["main"]) == 0
    [(command, settings)] = lifecycle.calls
    assert (command, settings.mode) == ("stop", "stop")
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [f"::add-mask::{API_KEY}", f"::add-mask::{TOKEN}"]


def test_command_and_flags_reach_the_lifecycle(
    environ: dict[str, str], lifecycle: FakeLifecycle
) -> None:
    assert cli.main(["reap", "--max-age-minutes", "90", "--dry-run", "true"]) == 0
    [(command, settings)] = lifecycle.calls
    assert command == "reap"
    assert (settings.max_age_minutes, settings.dry_run) == (90, True)


def test_lifecycle_exit_code_is_returned(environ: dict[str, str], lifecycle: FakeLifecycle) -> None:
    lifecycle.behaviour = lambda wf, ev: 1
    assert cli.main(["start"]) == 1


def test_advisories_become_warnings(
    environ: dict[str, str],
    lifecycle: FakeLifecycle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("INPUT_ENV", "HF_TOKEN=abc")
    assert cli.main(["start"]) == 0
    assert any(
        line.startswith("::warning::Input 'env' sets HF_TOKEN")
        for line in capsys.readouterr().out.splitlines()
    )


def test_endpoints_moved_by_the_environment_are_one_notice(
    environ: dict[str, str],
    lifecycle: FakeLifecycle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example.com/api/v3")
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.example.com:3128")
    assert cli.main(["start"]) == 0
    out = capsys.readouterr().out
    (notice,) = [line for line in out.splitlines() if line.startswith("::notice")]
    assert "GITHUB_API_URL=https://ghe.example.com/api/v3" in notice
    assert "HTTPS_PROXY=http://proxy.example.com:3128" in notice
    assert ":pw@" not in out


def test_signals_set_the_cancel_event_and_are_restored(
    environ: dict[str, str], lifecycle: FakeLifecycle
) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    seen: list[bool] = []

    def behaviour(workflow: Workflow, cancelled: threading.Event) -> int:
        seen.append(cancelled.is_set())
        os.kill(os.getpid(), signal.SIGTERM)
        seen.append(cancelled.wait(5))
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: cleanup goes on
        return 0

    lifecycle.behaviour = behaviour
    assert cli.main(["start"]) == 0
    assert seen == [False, True]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_action_error_from_the_lifecycle_is_one_annotation(
    environ: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    def behaviour(workflow: Workflow, cancelled: threading.Event) -> int:
        raise ActionError("Renting failed", f"RunPod said no to {API_KEY}", "Try later")

    lifecycle.behaviour = behaviour
    assert cli.main(["start"]) == 1
    out = capsys.readouterr().out
    assert "::error::Renting failed: RunPod said no to ***. Try later." in out.splitlines()


def test_unexpected_exception_is_reported_not_raised(
    environ: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    def behaviour(workflow: Workflow, cancelled: threading.Event) -> int:
        raise KeyError(TOKEN)

    lifecycle.behaviour = behaviour
    assert cli.main(["start"]) == 1
    printed = [
        line for line in capsys.readouterr().out.splitlines() if not line.startswith("::add-mask::")
    ]
    assert "::error::Unexpected KeyError: '***'. Please report this bug." in printed
    assert TOKEN not in "\n".join(printed)


def test_post_with_invalid_inputs_has_nothing_to_clean(
    environ: dict[str, str],
    lifecycle: FakeLifecycle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("INPUT_GPU-COUNT", "two")
    assert cli.main(["post"]) == 0
    assert "::error" not in capsys.readouterr().out
    assert lifecycle.calls == []


def test_container_entry_points(
    environ: dict[str, str], lifecycle: FakeLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["runpod-ssh-action-main"])
    assert cli.main_step() == 0
    monkeypatch.setattr(sys, "argv", ["runpod-ssh-action-post"])
    assert cli.post_step() == 0
    assert [command for command, _ in lifecycle.calls] == ["start", "post"]


def test_entrypoint_script_reports_bad_inputs(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GITHUB_ACTIONS": "true",
        "INPUT_RUNPOD-API-KEY": "",
        "RUNNER_TEMP": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "entrypoint.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert errors[0].startswith("::error title=Invalid input::Input 'runpod-api-key' is invalid")


def test_a_start_cancelled_before_it_began_rents_nothing(
    environ: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    cancelled = threading.Event()
    cancelled.set()
    assert cli.main(["start"], cancelled) == 1
    assert lifecycle.calls == []
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert errors == [f"::error::{cli.CANCELLED_BEFORE_START}"]


@pytest.mark.parametrize("command", ["post", "stop"])
def test_steps_that_end_things_still_run_when_cancelled_before_they_began(
    environ: dict[str, str], lifecycle: FakeLifecycle, command: str
) -> None:
    cancelled = threading.Event()
    cancelled.set()
    seen: list[bool] = []

    def behaviour(workflow: Workflow, event: threading.Event) -> int:
        seen.append(event.is_set())
        return 0

    lifecycle.behaviour = behaviour
    assert cli.main([command], cancelled) == 0
    assert seen == [True]


def test_a_cancel_while_inputs_load_is_handed_to_the_lifecycle(
    environ: dict[str, str], lifecycle: FakeLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = settings_module.load_settings

    def load_and_get_cancelled(*args: object, **kwargs: object) -> Settings:
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: main took SIGINT over
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(settings_module, "load_settings", load_and_get_cancelled)
    assert cli.main(["start"]) == 1
    assert lifecycle.calls == []


# --- a terminal (GITHUB_ACTIONS unset) --------------------------------------------


@pytest.fixture
def shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environ: dict[str, str]
) -> dict[str, str]:
    """A user's terminal: no Actions variables, the RunPod key exported as the README
    shows, state under a directory of the test's own."""
    for name in list(os.environ):
        if name.startswith(("INPUT_", "GITHUB_", "RUNNER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUNPOD_API_KEY", API_KEY)
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def test_help_hides_the_container_entry_points_and_groups_the_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "{start,stop,reap,gpus,status,doctor}" in text
    assert "main" not in text.split("options:")[0] and "post" not in text.split("options:")[0]
    for title in ("credentials:", "pods:", "runner:", "timeouts:", "stop and reap:"):
        assert title in text
    credentials = text.split("credentials:")[1].split("pods:")[0]
    assert "--runpod-api-key" in credentials and "--github-token" in credentials
    assert "RUNPOD_API_KEY" in text


def test_runpod_api_key_is_read_from_its_usual_variable(
    shell: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["gpus"]) == 0
    [(_, settings)] = lifecycle.calls
    assert settings.runpod_api_key.get_secret_value() == API_KEY
    assert API_KEY not in capsys.readouterr().out


def test_a_flag_or_an_input_wins_over_the_variable(
    shell: dict[str, str], lifecycle: FakeLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["gpus", "--runpod-api-key", "rpa_FLAG0123456789"]) == 0
    monkeypatch.setenv("INPUT_RUNPOD_API_KEY", "rpa_INPUT0123456789")
    assert cli.main(["gpus"]) == 0
    keys = [s.runpod_api_key.get_secret_value() for _, s in lifecycle.calls]
    assert keys == ["rpa_FLAG0123456789", "rpa_INPUT0123456789"]


def test_github_token_comes_from_a_variable_of_its_own_not_github_token(
    shell: dict[str, str], lifecycle: FakeLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_WORKFLOWTOKEN0123")
    monkeypatch.setenv("GH_TOKEN", "gho_GHCLITOKEN0123")
    assert cli.main(["gpus"]) == 0
    monkeypatch.setenv("RUNPOD_SSH_ACTION_GITHUB_TOKEN", TOKEN)
    assert cli.main(["gpus"]) == 0
    tokens = [s.github_token for _, s in lifecycle.calls]
    assert tokens[0] is None
    assert tokens[1] is not None and tokens[1].get_secret_value() == TOKEN


def test_a_terminal_never_sees_a_workflow_command_or_a_secret(
    shell: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    def behaviour(workflow: Workflow, cancelled: threading.Event) -> int:
        workflow.masker.add("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretkey\n")
        workflow.info("AAAAsecretkey")
        workflow.set_output("pod-id", "abc123")
        return 0

    lifecycle.behaviour = behaviour
    assert cli.main(["start", "--runner", "false"]) == 0
    out = capsys.readouterr().out
    assert "::" not in out and API_KEY not in out and "AAAAsecretkey" not in out
    assert "Outputs:" in out and "abc123" in out


def test_a_terminal_start_makes_up_a_run_id_that_stop_finds_again(
    shell: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["start", "--runner", "false"]) == 0
    run_id = lifecycle.calls[0][1].github_run_id
    assert run_id.isdigit()
    assert f"GITHUB_RUN_ID={run_id}" in capsys.readouterr().out
    # stop needs no pod id, no GitHub credentials and no repository.
    assert cli.main(["stop"]) == 0
    [_, (command, settings)] = lifecycle.calls
    assert (command, settings.github_run_id, settings.github_repository) == ("stop", run_id, "")


def test_stop_by_pod_id_needs_only_the_runpod_key(
    shell: dict[str, str], lifecycle: FakeLifecycle
) -> None:
    assert cli.main(["stop", "--pod-id", "abc123xyz"]) == 0
    [(_, settings)] = lifecycle.calls
    assert settings.pod_id == ("abc123xyz",) and not settings.has_github_credentials


def test_json_outputs_are_the_only_thing_on_stdout(
    shell: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    def behaviour(workflow: Workflow, cancelled: threading.Event) -> int:
        workflow.info("Renting 1 pod(s)")
        workflow.set_output("pod-id", "abc123")
        return 0

    lifecycle.behaviour = behaviour
    assert cli.main(["start", "--runner", "false", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"pod-id": "abc123"}
    assert "Renting 1 pod(s)" in captured.err


def test_a_planted_state_file_is_refused_with_one_sentence(
    shell: dict[str, str], lifecycle: FakeLifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path(shell["XDG_STATE_HOME"]) / "runpod-ssh-action"
    folder.mkdir(parents=True, mode=0o700)
    planted = folder / "state-local.env"
    planted.write_text("run-id=1\npods=victim1\n")
    planted.chmod(0o644)
    assert cli.main(["stop"]) == 1
    assert lifecycle.calls == []
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("error: Refused to use ") and "mode 0600" in line

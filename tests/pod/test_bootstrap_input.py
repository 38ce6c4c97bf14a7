"""What goes on the pod's stdin, how the script's answer is read, and the script's lint."""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runpod_ssh_action import bootstrap
from runpod_ssh_action.bootstrap import (
    BootstrapConfig,
    BootstrapError,
    parse_output,
    render_input,
)
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.ssh import SshTarget

JIT = "jit-secret-value\nsecond line"
SCRIPT_PATH = Path(bootstrap.__file__).parent / "pod" / "bootstrap.sh"


def _config(**changes: object) -> BootstrapConfig:
    base = BootstrapConfig(
        mode="runner",
        pod_id="abc123xyz",
        runpod_api_url="https://api.runpod.io/graphql",
        max_lifetime_deadline=1_800_000_000,
        idle_timeout_seconds=900,
        runner_name="rpsa-1-0",
        runner_labels=("rpsa-abc", "gpu"),
        runner_url="https://github.com/actions/runner/releases/download/v2/r.tar.gz",
        runner_sha256="A" * 64,
        jit_config=JIT,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _config_block(data: bytes) -> dict[str, str]:
    text = data.decode()
    block = text[text.index("\nRPSA-CONFIG 1\n") + 1 :].splitlines()
    assert block[0] == "RPSA-CONFIG 1" and block[-1] == "RPSA-END"
    return {
        k: base64.b64decode(v).decode() for k, v in (line.split("=", 1) for line in block[1:-1])
    }


def _target() -> SshTarget:
    return SshTarget("1.2.3.4", 22001, "root", Path("/k"), Path("/kh"))


def test_input_is_the_script_then_the_config_block() -> None:
    data = render_input(_config())

    assert data.startswith(SCRIPT_PATH.read_bytes())
    values = _config_block(data)
    assert values["MODE"] == "runner"
    assert values["JIT_CONFIG"] == JIT
    assert values["RUNNER_LABELS"] == "rpsa-abc,gpu"
    assert values["RUNNER_SHA256"] == "a" * 64
    assert values["DEADLINE"] == "1800000000"
    assert values["INTERVAL"] == str(bootstrap.DEFAULT_WATCHDOG_INTERVAL)
    assert values["RUNNER_USER"] == ""
    assert _config_block(render_input(_config(runner_user="ci")))["RUNNER_USER"] == "ci"
    assert JIT.encode() not in data


def test_ssh_mode_ignores_runner_fields() -> None:
    data = render_input(_config(mode="ssh", runner_name="", jit_config="", runner_sha256=""))

    assert _config_block(data)["MODE"] == "ssh"


@pytest.mark.parametrize(
    "changes",
    [
        {"pod_id": 'x"}) { myself { id } } #'},
        {"runner_name": "../escape"},
        {"runner_sha256": "abc"},
        {"runner_labels": ("a,b",)},
        {"runner_url": "ftp://x"},
        {"jit_config": ""},
        {"registration": "token", "registration_token": ""},
        {"registration": "token", "registration_token": "t", "github_url": ""},
        {"watchdog_interval_seconds": 0},
        {"idle_timeout_seconds": 0},
        {"runner_user": "root"},
        {"runner_user": "ci;id"},
    ],
)
def test_bad_configs_are_refused_before_anything_is_sent(changes: dict[str, object]) -> None:
    with pytest.raises(BootstrapError) as caught:
        render_input(_config(**changes))

    assert caught.value.reason == "config"


def test_secrets_stay_out_of_the_config_repr() -> None:
    text = repr(_config(registration_token="tok-secret-1"))

    assert JIT not in text and "tok-secret-1" not in text


def test_ok_result_is_parsed() -> None:
    out = (
        b"RPSA-WARN libicu missing\nRPSA-RESULT ok watchdog_pid=12 runner_pid=34 work_dir=/h/a b\n"
    )

    result = parse_output(out, b"", 0, config=_config(), target=_target())

    assert result == bootstrap.BootstrapResult(12, 34, "/h/a b", ("libicu missing",))


def test_ssh_mode_result_has_no_runner() -> None:
    out = b"RPSA-RESULT ok watchdog_pid=12 runner_pid=- work_dir=/h\n"

    assert parse_output(out, b"", 0, config=_config(), target=_target()).runner_pid is None


def test_error_result_becomes_a_bootstrap_error_with_a_fix() -> None:
    out = b"RPSA-RESULT error checksum-mismatch the runner has SHA-256 ab, expected cd\n"

    with pytest.raises(BootstrapError) as caught:
        parse_output(out, b"", 1, config=_config(), target=_target())

    error = caught.value
    assert (error.reason, error.code) == ("checksum-mismatch", "BOOTSTRAP_CHECKSUM_MISMATCH")
    assert "pod abc123xyz" in error.what and "expected cd" in error.why
    assert "checksum" in error.fix


def test_a_missing_result_quotes_stderr_without_secrets() -> None:
    masker = Masker()
    masker.add("other-secret")
    stderr = f"bash: line 3: {JIT} other-secret boom\n".encode()

    with pytest.raises(BootstrapError) as caught:
        parse_output(b"", stderr, 2, config=_config(), target=_target(), masker=masker)

    text = str(caught.value)
    assert "boom" in text and "status 2" in text
    assert "jit-secret-value" not in text and "other-secret" not in text


def test_bash_parses_the_script() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT_PATH)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_is_clean() -> None:
    done = subprocess.run(
        ["shellcheck", "--shell=bash", str(SCRIPT_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def _run_locally(stdin: bytes, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    return subprocess.run(
        ["bash", "-s"], input=stdin, capture_output=True, env=env, timeout=60, check=False
    )


def test_a_truncated_config_is_reported_not_run(tmp_path: Path) -> None:
    data = render_input(_config())
    cut = data[: data.rindex(b"RPSA-END")]

    done = _run_locally(cut, tmp_path)

    assert done.returncode == 1
    assert done.stdout.decode().splitlines()[-1] == (
        "RPSA-RESULT error config the configuration ended before RPSA-END"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_config_key_is_reported(tmp_path: Path) -> None:
    data = render_input(_config()).replace(b"RPSA-END\n", b"SURPRISE=eA==\nRPSA-END\n")

    done = _run_locally(data, tmp_path)

    assert done.stdout.decode().splitlines()[-1] == (
        "RPSA-RESULT error config unknown configuration key 'SURPRISE'"
    )

"""A cancel in the first moments of a step, while the package is still loading, ends it
with one line and exit code 1, never with Python's KeyboardInterrupt traceback.

Each test starts the real step as a process and sends it the real signal as soon as the
process has taken the signals over, which /proc shows as SIGTERM being caught (Python on
its own catches only SIGINT). The step takes them over before it loads the package, so
the signal lands while it loads (the better part of a second), before the start could
begin: the step must say it was cancelled before it started, and nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runpod_ssh_action.cli import CANCELLED_BEFORE_START

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = [sys.executable, str(ROOT / "entrypoint.py")]
CONSOLE_SCRIPT = [str(Path(sys.executable).parent / "runpod-ssh-action-main")]
# Long enough for any machine to load the package; the loop ends far sooner.
TAKEOVER_LIMIT = 120.0

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="watches the step through Linux's /proc"
)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on: a step that got as far as calling RunPod is
    refused at once, and never reaches the real API."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


def step_env(tmp_path: Path, port: int) -> dict[str, str]:
    summary = tmp_path / "summary.md"
    summary.touch()
    return {
        "PATH": os.environ.get("PATH", ""),
        "GITHUB_ACTIONS": "true",
        "INPUT_MODE": "start",
        "INPUT_RUNPOD-API-KEY": "rpa_SIGNALTESTKEY0123456789",
        "INPUT_RUNNER": "false",
        "INPUT_GPU-TYPES": "NVIDIA RTX A6000",
        "GITHUB_REPOSITORY": "octo/gpu",
        "GITHUB_RUN_ID": "7",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(tmp_path),
        "RUNPOD_GRAPHQL_URL": f"http://127.0.0.1:{port}/graphql",
    }


def catches(pid: int, signum: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signum - 1) & 1)


def cancel_once_taken_over(command: list[str], env: dict[str, str], signum: int) -> tuple[int, str]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        while not catches(process.pid, signal.SIGTERM):
            # Ended before taking the signals over: the output below says why.
            if process.poll() is not None:
                break
        process.send_signal(signum)
        output, _ = process.communicate(timeout=TAKEOVER_LIMIT)
    finally:
        process.kill()
        process.wait()
    return process.returncode, output


@pytest.mark.parametrize(
    ("command", "signum"),
    [
        (ENTRYPOINT, signal.SIGINT),
        (ENTRYPOINT, signal.SIGTERM),
        (CONSOLE_SCRIPT, signal.SIGINT),
    ],
    ids=["entrypoint.py SIGINT", "entrypoint.py SIGTERM", "console script SIGINT"],
)
def test_a_cancel_while_the_step_loads_ends_it_with_one_line(
    tmp_path: Path, closed_port: int, command: list[str], signum: int
) -> None:
    code, output = cancel_once_taken_over(command, step_env(tmp_path, closed_port), signum)
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("::error")]
    assert errors == [f"::error::{CANCELLED_BEFORE_START}"], output


def test_the_cli_module_loads_nothing_heavy() -> None:
    # The console scripts import it before main can take the signals over.
    script = (
        "import sys, runpod_ssh_action.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'pydantic_settings', 'requests', 'cryptography', 'urllib3'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"

"""Run the real entrypoint as the runner does, and read back what it wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "entrypoint.py"


def parse_file_commands(text: str) -> dict[str, str]:
    """Parse GITHUB_OUTPUT / GITHUB_STATE the way the runner does: ``name=value``
    lines and ``name<<DELIMITER`` blocks; later lines win."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            index += 1
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    env: dict[str, str]

    @property
    def outputs(self) -> dict[str, str]:
        return parse_file_commands(Path(self.env["GITHUB_OUTPUT"]).read_text())

    @property
    def state(self) -> dict[str, str]:
        return parse_file_commands(Path(self.env["GITHUB_STATE"]).read_text())

    @property
    def summary(self) -> str:
        return Path(self.env["GITHUB_STEP_SUMMARY"]).read_text()

    def errors(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("::error")]


def _env(action_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "STATE_"))}
    env.update(action_env)
    return env


def start(action_env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ENTRYPOINT), *args],
        env=_env(action_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=action_env.get("GITHUB_WORKSPACE", str(ROOT)),
    )


def run(action_env: dict[str, str], *args: str, timeout: float = 180) -> Result:
    process = start(action_env, *args)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"the action did not finish in {timeout} s:\n{stdout}\n{stderr}"
        ) from None
    return Result(process.returncode, stdout, stderr, action_env)


def post(main: Result, timeout: float = 120) -> Result:
    """The post step: same inputs, state from the main step as STATE_<name>."""
    env = dict(main.env)
    env.update({f"STATE_{name}": value for name, value in main.state.items()})
    return run(env, "post", timeout=timeout)


def cancel(process: subprocess.Popen[str], timeout: float = 30) -> Result:
    """The runner's cancel sequence: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after."""
    process.send_signal(signal.SIGINT)
    for sig, wait in ((signal.SIGTERM, 7.5), (signal.SIGKILL, 2.5)):
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=timeout)
    return Result(process.returncode, stdout, stderr, {})


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)

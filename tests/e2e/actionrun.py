"""Run the real entrypoint as the runner does, and read back what it wrote: the one
launcher of the end-to-end and reliability suites."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runpod_ssh_action.workflow import parse_file_commands

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "entrypoint.py"

# The action's clients wait 30 s for an answer, so a timeout fault would make one case
# last minutes. This launcher lowers that in the child, then runs the entrypoint's code.
_SHORT_TIMEOUT_LAUNCHER = """\
import sys
from runpod_ssh_action import context
context.WORK_TIMEOUT = float(sys.argv[1])
from runpod_ssh_action.cli import main
sys.exit(main(sys.argv[2:]))
"""

# Variables of the test process that must not leak into a run: another step's inputs
# and state, and a shared cache that would hide the gpuTypes call from later runs.
_DROPPED = ("INPUT_", "STATE_", "XDG_CACHE_HOME", "RUNNER_DEBUG")


@dataclass
class Step:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    env: dict[str, str]

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def errors(self) -> list[str]:
        return [line for line in self.lines if line.startswith("::error")]

    @property
    def outputs(self) -> dict[str, str]:
        return parse_file_commands(Path(self.env["GITHUB_OUTPUT"]).read_text())

    @property
    def state(self) -> dict[str, str]:
        return parse_file_commands(Path(self.env["GITHUB_STATE"]).read_text())

    @property
    def summary(self) -> str:
        return Path(self.env["GITHUB_STEP_SUMMARY"]).read_text()

    def describe(self) -> str:
        name = " ".join(self.args) or "main"
        return f"--- {name} exited {self.returncode}:\n{self.stdout}{self.stderr}"


@dataclass
class Running:
    """A started step. Its stdout goes to a pipe, or to ``stdout_path`` when a test
    must see each line the moment it is written (a file has no reader to lag)."""

    process: subprocess.Popen[str]
    args: tuple[str, ...]
    env: dict[str, str]
    stdout_path: Path | None = None
    _out: list[str] = field(default_factory=list)
    _err: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        def read(stream: object, into: list[str]) -> None:
            into.append(stream.read())  # type: ignore[attr-defined]

        pipes = [(self.process.stderr, self._err)]
        if self.stdout_path is None:
            pipes.append((self.process.stdout, self._out))
        self._readers = [threading.Thread(target=read, args=pipe, daemon=True) for pipe in pipes]
        for reader in self._readers:
            reader.start()

    def wait(self, timeout: float = 240) -> Step:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                f"the action did not finish in {timeout} s:\n{self._finish().describe()}"
            ) from None
        return self._finish()

    def cancel(self) -> Step:
        """The runner's cancel sequence: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after."""
        self.process.send_signal(signal.SIGINT)
        for sig, wait in ((signal.SIGTERM, 7.5), (signal.SIGKILL, 2.5)):
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                self.process.send_signal(sig)
        return self.wait(30)

    def kill(self) -> Step:
        self.process.kill()
        return self.wait(30)

    def _finish(self) -> Step:
        for reader in self._readers:
            reader.join(timeout=10)
        stdout = (
            self.stdout_path.read_text() if self.stdout_path is not None else "".join(self._out)
        )
        code = self.process.returncode
        return Step(
            self.args, code if code is not None else -1, stdout, "".join(self._err), self.env
        )


def child_env(action_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    env.update(action_env)
    return env


def launch(
    action_env: dict[str, str],
    *args: str,
    http_timeout: float | None = None,
    stdout_path: Path | None = None,
) -> Running:
    if http_timeout is None:
        argv = [sys.executable, str(ENTRYPOINT), *args]
    else:
        command = list(args) or ["main"]
        argv = [sys.executable, "-c", _SHORT_TIMEOUT_LAUNCHER, str(http_timeout), *command]
    sink = stdout_path.open("w") if stdout_path is not None else None
    try:
        process = subprocess.Popen(
            argv,
            env=child_env(action_env),
            stdout=sink or subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=action_env.get("GITHUB_WORKSPACE", str(ROOT)),
        )
    finally:
        if sink is not None:
            sink.close()
    return Running(process, tuple(args), action_env, stdout_path)


def run(
    action_env: dict[str, str],
    *args: str,
    timeout: float = 240,
    http_timeout: float | None = None,
    stdout_path: Path | None = None,
) -> Step:
    running = launch(action_env, *args, http_timeout=http_timeout, stdout_path=stdout_path)
    return running.wait(timeout)


def post_env(main_env: dict[str, str], state: dict[str, str]) -> dict[str, str]:
    """The post step's environment: the same inputs, the main step's state as STATE_*."""
    env = dict(main_env)
    env.update({f"STATE_{name}": value for name, value in state.items()})
    return env


def post(main: Step, *, timeout: float = 180, http_timeout: float | None = None) -> Step:
    return run(post_env(main.env, main.state), "post", timeout=timeout, http_timeout=http_timeout)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)

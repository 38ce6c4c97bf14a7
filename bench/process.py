"""Running the action as the runner does, and timing it from the outside.

The action runs as a child process (``python -m bench.child``) with the environment
the stand-in hands out. What the benchmark reads back: when the process was spawned,
when it wrote its outputs (the ``GITHUB_OUTPUT`` file's modification time), when it
exited, its exit status, and (``wait4``) its peak resident memory and the CPU time it
and the ssh clients it started used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG_TAIL = 4000


@dataclass
class ActionRun:
    """One finished run of the action. Times are ``time.monotonic()`` seconds."""

    name: str
    env: dict[str, str] = field(repr=False)
    spawned: float
    exited: float
    returncode: int
    max_rss_kb: int
    cpu_seconds: float
    outputs_at: float | None
    outputs: dict[str, str] = field(repr=False)
    log_tail: str = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> ActionRun:
        if not self.ok:
            raise RuntimeError(
                f"the action run {self.name} failed (exit {self.returncode}):\n{self.log_tail}"
            )
        return self


class RunningAction:
    """A started action process; ``result()`` waits for it."""

    def __init__(self, name: str, env: dict[str, str], strategy: str, args: list[str]):
        self.name = name
        self.env = env
        log_path = Path(env["RUNNER_TEMP"]).parent / f"{name}.log"
        self._log_path = log_path
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "STATE_"))}
        child_env.update(env)
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        with log_path.open("wb") as log:
            self.spawned = time.monotonic()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bench.child", strategy, *args],
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=env.get("GITHUB_WORKSPACE", str(ROOT)),
            )
        self._exited = 0.0
        self._status = 0
        self._max_rss_kb = 0
        self._cpu_seconds = 0.0
        self._reaper = threading.Thread(target=self._reap, name=f"reap-{name}", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        _, status, usage = os.wait4(self._process.pid, 0)
        self._exited = time.monotonic()
        self._status = os.waitstatus_to_exitcode(status)
        self._max_rss_kb = usage.ru_maxrss
        # The process's and its reaped children's (its ssh clients').
        self._cpu_seconds = usage.ru_utime + usage.ru_stime
        # Reaped here, so Popen must not wait for it again.
        self._process.returncode = self._status

    def result(self, timeout: float = 900.0) -> ActionRun:
        self._reaper.join(timeout)
        if self._reaper.is_alive():
            self._process.kill()
            self._reaper.join()
        output_file = Path(self.env["GITHUB_OUTPUT"])
        text = output_file.read_text(encoding="utf-8")
        outputs_at = wall_to_monotonic(output_file.stat().st_mtime_ns) if text else None
        log = self._log_path.read_text(encoding="utf-8", errors="replace")
        return ActionRun(
            name=self.name,
            env=self.env,
            spawned=self.spawned,
            exited=self._exited,
            returncode=self._status,
            max_rss_kb=self._max_rss_kb,
            cpu_seconds=self._cpu_seconds,
            outputs_at=outputs_at,
            outputs=parse_file_commands(text),
            log_tail=log[-LOG_TAIL:],
        )


def run_action(name: str, env: dict[str, str], strategy: str = "adaptive") -> ActionRun:
    return RunningAction(name, env, strategy, []).result()


def wall_to_monotonic(wall_ns: int) -> float:
    offset = time.time() - time.monotonic()
    return wall_ns / 1e9 - offset


def parse_file_commands(text: str) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIMITER`` blocks, as the runner reads them."""
    values: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            values[name] = value
    return values

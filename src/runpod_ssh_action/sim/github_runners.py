"""GitHub's side of self-hosted runners in the stand-in: registrations, sessions, jobs.

A runner is registered (JIT config or config.sh) and shows ``offline`` until its
process opens a session and keeps heart-beating; it is ``busy`` while it runs a job.
An ephemeral runner is removed the moment its one job completes, as GitHub does. A
runner that stops heart-beating is shown offline after ``OFFLINE_AFTER`` seconds, and
a job it was running is failed as lost, like GitHub's "lost communication" result.

Heartbeat ages are measured on the stand-in's injectable clock; the only real-time
wait is a runner's long poll, which holds an HTTP request open until a job arrives.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OFFLINE_AFTER = 5.0
MAX_POLL_WAIT = 10.0
MAX_OUTPUT = 1 << 20
DEFAULT_GROUP_ID = 1
DEFAULT_GROUP_NAME = "Default"
# What config.sh adds unless given --no-default-labels (actions/runner
# src/Runner.Listener/Configuration/ConfigurationManager.cs, CreateNewAgent); a JIT
# registration gets only the labels in its request.
READ_ONLY_LABELS = ("self-hosted", "linux", "x64")


class GitHubError(Exception):
    """A request the stand-in refuses, with the HTTP status and GitHub's message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Runner:
    id: int
    name: str
    scope: str  # "repo" or "org"
    custom_labels: list[str]
    read_only_labels: list[str]
    ephemeral: bool
    work_folder: str
    secret: str = field(repr=False)
    group_id: int = DEFAULT_GROUP_ID
    connected: bool = False
    connected_at: float = 0.0
    last_seen: float = 0.0
    job_id: str | None = None


@dataclass
class Job:
    id: str
    label: str
    script: str
    status: str = "queued"
    exit_code: int | None = None
    runner_id: int | None = None
    output: str = ""


class Fleet:
    """Every runner and job; all methods are thread-safe."""

    def __init__(self, clock_now: Callable[[], float]):
        self._now = clock_now
        self.changed = threading.Condition(threading.RLock())
        self._runners: dict[int, Runner] = {}
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []
        self._label_ids: dict[str, int] = {
            name: index + 1 for index, name in enumerate(READ_ONLY_LABELS)
        }
        self._next_runner_id = 1
        self._next_job = 1
        self.never_online = False
        self.online_delay = 0.0

    # --- registrations -----------------------------------------------------------

    def register(
        self,
        *,
        scope: str,
        name: str,
        labels: list[str],
        ephemeral: bool,
        work_folder: str,
        replace: bool = False,
        default_labels: bool = True,
        group_id: int = DEFAULT_GROUP_ID,
    ) -> Runner:
        with self.changed:
            existing = self.by_name(scope, name)
            if existing is not None:
                if not replace:
                    raise GitHubError(
                        409, f"Already exists - A runner with the name {name} already exists."
                    )
                self.delete(scope, existing.id)
            runner = Runner(
                id=self._next_runner_id,
                name=name,
                scope=scope,
                custom_labels=list(dict.fromkeys(labels)),
                read_only_labels=list(READ_ONLY_LABELS) if default_labels else [],
                ephemeral=ephemeral,
                work_folder=work_folder,
                secret=secrets.token_urlsafe(32),
                group_id=group_id,
            )
            self._next_runner_id += 1
            self._runners[runner.id] = runner
            self.changed.notify_all()
            return runner

    def by_name(self, scope: str, name: str) -> Runner | None:
        with self.changed:
            for runner in self._runners.values():
                if runner.scope == scope and runner.name.lower() == name.lower():
                    return runner
            return None

    def get(self, scope: str, runner_id: int) -> Runner | None:
        with self.changed:
            self._settle()
            runner = self._runners.get(runner_id)
            return runner if runner is not None and runner.scope == scope else None

    def listing(self, scope: str | None, name: str | None = None) -> list[Runner]:
        with self.changed:
            self._settle()
            return [
                runner
                for _, runner in sorted(self._runners.items())
                if (scope is None or runner.scope == scope)
                and (name is None or runner.name.lower() == name.lower())
            ]

    def delete(self, scope: str, runner_id: int) -> None:
        with self.changed:
            runner = self.get(scope, runner_id)
            if runner is None:
                raise GitHubError(404, "Not Found")
            if runner.job_id is not None:
                raise GitHubError(
                    422, f'Bad request - Runner "{runner.name}" is still running a job"'
                )
            del self._runners[runner_id]
            self.changed.notify_all()

    def is_online(self, runner: Runner) -> bool:
        now = self._now()
        return (
            runner.connected
            and now - runner.connected_at >= self.online_delay
            and now - runner.last_seen <= OFFLINE_AFTER
        )

    def rest(self, runner: Runner) -> dict[str, Any]:
        """The runner as GitHub's REST API shows it."""
        with self.changed:
            labels = [
                {"id": self._label_id(name), "name": name, "type": "read-only"}
                for name in runner.read_only_labels
            ] + [
                {"id": self._label_id(name), "name": name, "type": "custom"}
                for name in runner.custom_labels
            ]
            return {
                "id": runner.id,
                "name": runner.name,
                "os": "linux",
                "status": "online" if self.is_online(runner) else "offline",
                "busy": runner.job_id is not None,
                "ephemeral": runner.ephemeral,
                "runner_group_id": runner.group_id,
                "labels": labels,
            }

    def _label_id(self, name: str) -> int:
        key = name.lower()
        if key not in self._label_ids:
            self._label_ids[key] = 100 + len(self._label_ids)
        return self._label_ids[key]

    # --- the runner process's session ------------------------------------------------

    def authenticate(self, runner_id: int, secret: str) -> Runner:
        with self.changed:
            self._settle()
            runner = self._runners.get(runner_id)
            if runner is None:
                raise GitHubError(404, "The runner registration has been deleted from the server.")
            if not hmac.compare_digest(runner.secret, secret):
                raise GitHubError(401, "Bad credentials")
            return runner

    def connect(self, runner_id: int, secret: str) -> None:
        with self.changed:
            runner = self.authenticate(runner_id, secret)
            if self.never_online:
                return
            if runner.connected and self._now() - runner.last_seen <= OFFLINE_AFTER:
                raise GitHubError(409, "A session for this runner already exists.")
            runner.connected = True
            runner.connected_at = runner.last_seen = self._now()
            self.changed.notify_all()

    def heartbeat(self, runner_id: int, secret: str) -> None:
        with self.changed:
            runner = self.authenticate(runner_id, secret)
            if runner.connected:
                runner.last_seen = self._now()

    def disconnect(self, runner_id: int, secret: str) -> None:
        with self.changed:
            runner = self.authenticate(runner_id, secret)
            runner.connected = False
            self.changed.notify_all()

    def poll(self, runner_id: int, secret: str, wait: float) -> Job | None:
        """Hand the runner its next job, holding the request up to ``wait`` seconds."""
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_POLL_WAIT)
        with self.changed:
            while True:
                runner = self.authenticate(runner_id, secret)
                job = self._take_job(runner)
                if job is not None:
                    return job
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                # Coming online is a matter of time passing, not an event: look again soon.
                self.changed.wait(min(left, 0.25))

    def _take_job(self, runner: Runner) -> Job | None:
        if not self.is_online(runner):
            return None
        if runner.job_id is not None:
            # A runner polls only when idle, so its job's first delivery was lost on
            # the way (say, a connection reset after the answer was sent): send it again.
            return self._jobs[runner.job_id]
        labels = {name.lower() for name in runner.read_only_labels + runner.custom_labels}
        for job_id in self._queue:
            job = self._jobs[job_id]
            if job.label.lower() in labels:
                self._queue.remove(job_id)
                job.status = "in_progress"
                job.runner_id = runner.id
                runner.job_id = job.id
                self.changed.notify_all()
                return job
        return None

    def complete(
        self, runner_id: int, secret: str, job_id: str, exit_code: int, output: str
    ) -> None:
        with self.changed:
            runner = self.authenticate(runner_id, secret)
            job = self._jobs.get(job_id)
            if job is None or runner.job_id != job_id:
                raise GitHubError(404, "This runner is not running that job.")
            job.status = "completed"
            job.exit_code = exit_code
            job.output = output[-MAX_OUTPUT:]
            runner.job_id = None
            if runner.ephemeral:
                del self._runners[runner.id]
            self.changed.notify_all()

    # --- jobs -------------------------------------------------------------------------

    def dispatch(self, label: str, script: str) -> str:
        with self.changed:
            job = Job(id=f"job-{self._next_job}", label=label, script=script)
            self._next_job += 1
            self._jobs[job.id] = job
            self._queue.append(job.id)
            self.changed.notify_all()
            return job.id

    def job(self, job_id: str) -> dict[str, Any]:
        with self.changed:
            self._settle()
            job = self._jobs[job_id]
            return {
                "status": job.status,
                "exit_code": job.exit_code,
                "runner_id": job.runner_id,
                "output": job.output,
            }

    def _settle(self) -> None:
        """Fail the jobs of runners that went silent, as GitHub does after a while."""
        for runner in self._runners.values():
            if runner.job_id is not None and not self.is_online(runner):
                job = self._jobs[runner.job_id]
                job.status = "completed"
                job.output += (
                    f"\nThe self-hosted runner: {runner.name} lost communication with the server."
                )
                runner.job_id = None
                self.changed.notify_all()

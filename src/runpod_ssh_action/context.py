"""Everything one step needs, built once from the settings: no global state.

Two sets of API clients are made. The working set waits on a clock that a cancel
signal interrupts; the teardown set uses a clock no signal interrupts and short
timeouts, because it runs inside the runner's cancel window (SIGINT, then SIGTERM
7.5 s later, then SIGKILL 2.5 s after that).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .capacity import Attempt
from .clock import SystemClock
from .github import GitHubClient, RunnerScope
from .github.releases import RunnerRelease
from .ledger import Ledger
from .naming import runner_label
from .runpod import RunPodClient
from .settings import Settings
from .timeline import Timeline
from .transport import ApiLog, Metrics, RetryPolicy
from .workflow import Workflow

# Per-request connect and read timeouts. The working set can afford to wait for a slow
# API; the teardown set must fit several calls into the cancel window.
WORK_TIMEOUT = 30.0
TEARDOWN_RETRY = RetryPolicy(max_attempts=3, deadline_seconds=6.0, base_delay=0.3, max_delay=1.0)
TEARDOWN_TIMEOUT = 4.0


@dataclass
class Clients:
    runpod: RunPodClient
    github: GitHubClient | None

    def close(self) -> None:
        self.runpod.close()
        if self.github:
            self.github.close()


@dataclass
class Context:
    settings: Settings
    workflow: Workflow
    clock: SystemClock
    work: Clients
    teardown: Clients
    ledger: Ledger
    timeline: Timeline
    tag: str
    scope: RunnerScope | None
    workdir: Path
    metrics: Metrics
    label: str
    _log_stream: TextIO
    attempts: list[Attempt] = field(default_factory=list)
    installation_token: str | None = None
    # The runner tarball every pod installs, chosen once per start (lifecycle.start).
    runner_release: RunnerRelease | None = None

    @classmethod
    def create(cls, settings: Settings, workflow: Workflow, cancelled: threading.Event) -> Context:
        clock = SystemClock(cancelled)
        # gpus, status and reap from a terminal belong to no run: they name no pods.
        in_run = bool(settings.github_run_id)
        tag = settings.run_tag if in_run else ""
        workdir = Path(settings.runner_temp) / "runpod-ssh-action" / (tag or "local")
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The JSON request log: kept beside the step's temp files, and echoed to
        # the log only in debug runs, where the runner already expects noise.
        log_stream = (workdir / "api.jsonl").open("a", encoding="utf-8")
        # RUNNER_DEBUG=1 is ACTIONS_STEP_DEBUG (actions/runner src/Runner.Worker/JobRunner.cs).
        api_log = ApiLog(
            workflow.masker, log_stream, echo=workflow.debug if workflow.is_debug else None
        )
        metrics = Metrics()
        scope = _scope(settings)
        work = _clients(
            settings,
            workflow,
            api_log=api_log,
            metrics=metrics,
            clock=clock,
            scope=scope,
            teardown=False,
        )
        calm = SystemClock()
        teardown = _clients(
            settings,
            workflow,
            api_log=api_log,
            metrics=metrics,
            clock=calm,
            scope=scope,
            teardown=True,
        )
        return cls(
            settings=settings,
            workflow=workflow,
            clock=clock,
            work=work,
            teardown=teardown,
            ledger=Ledger(workflow.save_state),
            timeline=Timeline(clock, clock.monotonic()),
            tag=tag,
            scope=scope,
            workdir=workdir,
            metrics=metrics,
            label=runner_label(tag, random.SystemRandom()) if tag else "",
            _log_stream=log_stream,
        )

    def close(self) -> None:
        self.work.close()
        self.teardown.close()
        self._log_stream.close()


def _scope(settings: Settings) -> RunnerScope | None:
    if not settings.has_github_credentials:
        return None
    if settings.runner_scope == "org":
        return RunnerScope.org(settings.github_owner)
    return RunnerScope.repo(settings.github_owner, settings.github_repo)


def _clients(
    settings: Settings,
    workflow: Workflow,
    *,
    api_log: ApiLog,
    metrics: Metrics,
    clock: SystemClock,
    scope: RunnerScope | None,
    teardown: bool,
) -> Clients:
    retry = TEARDOWN_RETRY if teardown else RetryPolicy()
    timeout = TEARDOWN_TIMEOUT if teardown else WORK_TIMEOUT
    runpod = RunPodClient(
        settings.runpod_api_key.get_secret_value(),
        url=settings.runpod_api_url,
        clock=clock,
        masker=workflow.masker,
        log=api_log,
        metrics=metrics,
        ca_bundle=settings.ca_bundle,
        pins=settings.runpod_api_pins,
        retry=retry,
        timeout=timeout,
    )
    github = None
    if scope is not None:
        github = GitHubClient(
            settings.github_api_url,
            clock=clock,
            masker=workflow.masker,
            log=api_log,
            metrics=metrics,
            ca_bundle=settings.ca_bundle,
            pins=settings.github_api_pins,
            retry=retry,
            timeout=timeout,
        )
    return Clients(runpod, github)

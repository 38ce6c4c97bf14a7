"""What the stand-in saw of a run: when each phase ended, and the requests made.

Every time is the stand-in's own record (``time.monotonic()``), never the action's
word: pods carry ``created_at``, ``ready_at`` (their sshd answers and RunPod shows
port 22), ``first_connection_at`` and ``first_login_at``; a runner's
``runner/connect`` request marks its process reaching GitHub, which then shows it
online ``runner_online_delay`` seconds later. With several pods, a phase ends when
the last pod has passed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runpod_ssh_action.sim import RequestRecord, StandIn

from .process import ActionRun

RUNNER_STATUS_OPERATIONS = ("actions/get-self-hosted-runner-for-", "actions/list-self-hosted-")


@dataclass(frozen=True)
class StartView:
    """A start's phase ends, in seconds after the process was spawned."""

    runner: bool
    first_request: float
    created: float
    ready: float
    noticed: float
    logged_in: float
    connected: float | None
    online: float | None
    outputs: float

    def phases(self) -> list[tuple[str, float, float, bool]]:
        """(phase, began, ended, spent by the provider rather than by the action)."""
        ends: list[tuple[str, float, bool]] = [
            ("start-up (imports, settings)", self.first_request, False),
            ("credentials, create", self.created, False),
            ("boot (provider)", self.ready, True),
            ("noticing the SSH port", self.noticed, False),
            ("SSH login", self.logged_in, False),
        ]
        if self.runner and self.connected is not None and self.online is not None:
            ends += [
                ("bootstrap, runner start", self.connected, False),
                ("GitHub shows online (provider)", self.online, True),
                ("noticing online, outputs", self.outputs, False),
            ]
        else:
            ends.append(("bootstrap, outputs", self.outputs, False))
        spans, began = [], 0.0
        for name, ended, provider in ends:
            spans.append((name, began, ended, provider))
            began = ended
        return spans

    @property
    def total(self) -> float:
        return self.outputs

    @property
    def overhead(self) -> float:
        """The time the action's waiting adds on top of the provider.

        Without a runner: everything after the last pod's SSH answered (noticing,
        login, bootstrap, outputs). With runners: the delay noticing the SSH port,
        plus everything after the last runner showed online; what lies between
        (login, bootstrap, the runner's own start) is the same for every strategy.
        """
        if self.runner and self.online is not None:
            return (self.noticed - self.ready) + (self.outputs - self.online)
        return self.outputs - self.ready

    @property
    def floor(self) -> float:
        return self.total - self.overhead


def action_requests(sim: StandIn, since: float, until: float | None = None) -> list[RequestRecord]:
    """Requests the action made with its own credentials: RunPod with the account key
    (not the pods' watchdogs with theirs) and GitHub's REST API."""
    return [
        r
        for r in sim.requests()
        if r.started >= since
        and (until is None or r.started < until)
        and ((r.api == "runpod" and r.principal == "account") or r.api == "github")
    ]


def start_view(sim: StandIn, run: ActionRun, *, runner: bool) -> StartView:
    if run.outputs_at is None:
        raise RuntimeError(f"{run.name} wrote no outputs")
    pods = [p for p in sim.all_pods() if p.created_at >= run.spawned]
    if not pods or any(p.ready_at is None or p.first_login_at is None for p in pods):
        raise RuntimeError(f"{run.name}: a pod never became ready or was never logged in to")
    mine = action_requests(sim, run.spawned, run.exited)
    connects = runner_connects(sim, run.spawned) if runner else []
    delay = sim.config.runner_online_delay

    def since(moment: float) -> float:
        return moment - run.spawned

    return StartView(
        runner=runner,
        first_request=since(min(r.started for r in mine)),
        created=since(max(p.created_at for p in pods)),
        ready=since(max(p.ready_at or 0.0 for p in pods)),
        noticed=since(max(p.first_connection_at or 0.0 for p in pods)),
        logged_in=since(max(p.first_login_at or 0.0 for p in pods)),
        connected=since(max(connects)) if connects else None,
        online=since(max(connects) + delay) if connects else None,
        outputs=since(run.outputs_at),
    )


def runner_connects(sim: StandIn, since: float) -> list[float]:
    """When each runner's process reached GitHub (the end of its connect request)."""
    return [
        r.started + r.duration
        for r in sim.requests(api="runner", operation="runner/connect")
        if r.started >= since and r.status is not None and r.status < 300
    ]


@dataclass(frozen=True)
class RequestCount:
    runpod: int
    github: int
    status_requests: int
    naive_status_requests: int
    by_operation: dict[str, int]
    busiest_minute: int
    rate_limited: int

    @property
    def total(self) -> int:
        return self.runpod + self.github

    @property
    def naive_total(self) -> int:
        return self.total - self.status_requests + self.naive_status_requests


def count_requests(sim: StandIn, since: float, until: float | None = None) -> RequestCount:
    """Requests of one start (or stop), with what one status request per pod (per
    runner) per round would have cost instead.

    Pod status: each batched ``pod`` query names the pods it asked about. Runner
    status: a runner is looked at in every round until the round after it came online
    (the stand-in knows when that was), so a round's naive cost is the runners not yet
    seen online.
    """
    records = action_requests(sim, since, until)
    by_operation: dict[str, int] = {}
    for r in records:
        by_operation[r.operation] = by_operation.get(r.operation, 0) + 1
    pod_polls = [r for r in records if r.api == "runpod" and r.operation == "pod"]
    logins = [p.first_login_at for p in sim.all_pods() if p.first_login_at is not None]
    first_login = min((t for t in logins if t >= since), default=None)
    runner_polls = sorted(
        (
            r
            for r in records
            if r.api == "github"
            and r.operation.startswith(RUNNER_STATUS_OPERATIONS)
            and first_login is not None
            and r.started >= first_login
        ),
        key=lambda r: r.started,
    )
    online = [t + sim.config.runner_online_delay for t in runner_connects(sim, since)]
    naive_runner_polls, previous = 0, float("-inf")
    for poll in runner_polls:
        naive_runner_polls += sum(1 for t in online if t > previous)
        previous = poll.started
    return RequestCount(
        runpod=sum(1 for r in records if r.api == "runpod"),
        github=sum(1 for r in records if r.api == "github"),
        status_requests=len(pod_polls) + len(runner_polls),
        naive_status_requests=sum(len(r.pod_ids) for r in pod_polls) + naive_runner_polls,
        by_operation=dict(sorted(by_operation.items())),
        busiest_minute=busiest_window([r.started for r in records if r.api == "runpod"]),
        rate_limited=sum(1 for r in records if r.status == 429),
    )


def busiest_window(times: Iterable[float], window: float = 60.0) -> int:
    """The most requests in any ``window`` seconds (a sliding window)."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best

"""Ending what a step made: pods terminated (never merely stopped), runners deleted.

Used by every path that ends things: a failed or cancelled start, the post step,
``stop`` and ``reap``. Pods already gone and runners already removed count as done.
A pod that cannot be terminated is the one outcome that costs the user money, so it
is reported loudly with its id and where to end it by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from .clock import remaining
from .context import Clients, Context
from .errors import ActionError, CancelledError, NetworkError, RateLimitedError, TlsError
from .github.errors import RunnerBusyError
from .runpod import Pod

T = TypeVar("T")

CONSOLE = "https://www.runpod.io/console/pods"
# A teardown call the shared rate limit refuses is tried again for this long: the limit
# passes within a minute, a pod left running does not.
RATE_LIMIT_PATIENCE = 180.0
RATE_LIMIT_PAUSE = 5.0
# The runner sends SIGTERM 7.5 s after SIGINT and kills the docker CLI 2.5 s later
# (actions/runner src/Runner.Sdk/ProcessInvoker.cs), then starts the post step with the
# state written so far; teardown in the cancel window ends within this, with room left.
CANCEL_BUDGET = 6.0
UNCONFIRMED = "sent, not confirmed"


@dataclass(frozen=True)
class Ended:
    pod_id: str
    name: str | None
    outcome: str  # "terminated", "already gone", UNCONFIRMED or "FAILED: ..."
    uptime_seconds: float | None
    cost_per_hr: float | None


def tear_down(
    ctx: Context,
    clients: Clients,
    pod_ids: list[str],
    runner_ids: list[int],
    *,
    pod_prefix: str | None,
    runner_prefix: str | None,
) -> list[Ended]:
    """Terminate ``pod_ids`` plus any pod whose name starts with ``pod_prefix`` (the
    ones whose id never reached us), and delete ``runner_ids`` plus runners whose name
    starts with ``runner_prefix``. Returns one row per pod; raises nothing for a pod it
    could not end, but reports it as an error annotation.

    Inside the cancel window everything must be over within ``CANCEL_BUDGET``: pods
    known by id are terminated while the listing looks for the rest, uptimes are not
    read, and a terminate with no answer by then is ``UNCONFIRMED``, left for the post
    step (which always follows a cancelled main step) to confirm, not reported as a pod
    left running."""
    cancelling = ctx.clock.cancelled.is_set()
    deadline = ctx.clock.monotonic() + CANCEL_BUDGET if cancelling else None
    ids = list(dict.fromkeys(pod_ids))
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="end")
    try:
        ending = {} if not cancelling else _submit(ctx, clients, pool, ids)
        if pod_prefix:
            try:
                ids += [p for p in find_pods(ctx, clients, pod_prefix) if p not in ids]
            except ActionError as exc:
                ctx.workflow.warning(f"Could not list pods to find leftovers: {exc.sentence()}")
        known = {} if cancelling else _describe(ctx, clients, ids)
        ending |= _submit(ctx, clients, pool, [p for p in ids if p not in ending])
        left = None if deadline is None else remaining(ctx.clock, deadline)
        done, _ = wait(ending.values(), timeout=left)
        outcomes = [ending[p].result() if ending[p] in done else UNCONFIRMED for p in ids]
    finally:
        # Calls still waiting for an answer are left to finish on their own: the
        # cancel window does not wait for them.
        pool.shutdown(wait=not cancelling, cancel_futures=cancelling)
    rows = []
    for pod_id, outcome in zip(ids, outcomes, strict=True):
        pod = known.get(pod_id)
        rows.append(
            Ended(
                pod_id,
                pod.name if pod else None,
                outcome,
                pod.uptime_seconds if pod else None,
                pod.cost_per_hr if pod else None,
            )
        )
        if outcome.startswith("FAILED"):
            ctx.workflow.error(
                f"Pod {pod_id} could not be terminated and may still cost money: "
                f"{outcome[8:].rstrip('.')}. Terminate it in the RunPod console ({CONSOLE}) "
                "or run this action with mode: reap.",
                title="Pod left running",
            )
    unconfirmed = [row.pod_id for row in rows if row.outcome == UNCONFIRMED]
    if unconfirmed:
        ctx.workflow.warning(
            f"Terminating pod(s) {', '.join(unconfirmed)} was asked but not confirmed within "
            "the cancel window; the post step confirms it."
        )
    delete_runners(ctx, clients, runner_ids, name_prefix=runner_prefix, deadline=deadline)
    return rows


def _submit(
    ctx: Context, clients: Clients, pool: ThreadPoolExecutor, ids: list[str]
) -> dict[str, Future[str]]:
    return {pod_id: pool.submit(_terminate, ctx, clients, pod_id) for pod_id in ids}


def find_pods(ctx: Context, clients: Clients, name_prefix: str) -> list[str]:
    """Ids of the account's pods named with ``name_prefix``; for a caller that knows
    no ids, a failure here means pods may be left, so it is raised, not swallowed."""
    return _patiently(ctx, lambda: [p.id for p in clients.runpod.list_pods(name_prefix)])


def _describe(ctx: Context, clients: Clients, ids: list[str]) -> dict[str, Pod]:
    if not ids:
        return {}
    try:
        return {k: v for k, v in clients.runpod.pods(ids).items() if v is not None}
    except ActionError as exc:
        ctx.workflow.debug(f"Could not read pod uptimes before terminating: {exc.sentence()}")
        return {}


def _terminate(ctx: Context, clients: Clients, pod_id: str) -> str:
    try:
        ended_now = _patiently(ctx, partial(clients.runpod.terminate, pod_id))
    except (NetworkError, RateLimitedError) as exc:
        if ctx.clock.cancelled.is_set():
            # No answer is no refusal: the pod may be ending; the post step looks.
            ctx.workflow.debug(f"Terminating {pod_id} in the cancel window: {exc.sentence()}")
            return UNCONFIRMED
        return f"FAILED: {exc.sentence()}"
    except ActionError as exc:
        return f"FAILED: {exc.sentence()}"
    return "terminated" if ended_now else "already gone"


def asked_twice(call: Callable[[], T]) -> T:
    """Run ``call``, and once more if it fails with an answer the client took as final.

    The clients already retry what they know to be passing (network breaks, 5xx, rate
    limits); an answer they take as final (an odd message, a body cut short, a refused
    key) may still be a passing fault, and asking again costs a moment while a pod left
    running costs money and a runner left registered needs a reap.
    """
    try:
        return call()
    except (NetworkError, TlsError, RateLimitedError, CancelledError, RunnerBusyError):
        raise
    except ActionError:
        return call()


def _patiently(ctx: Context, call: Callable[[], T]) -> T:
    """``asked_twice``, and while the rate limit refuses it, again every few seconds
    for up to ``RATE_LIMIT_PATIENCE``: the limit is shared with every start on the key.
    Inside the cancel window there is no time to wait; the post step tries again."""
    deadline = ctx.clock.monotonic() + RATE_LIMIT_PATIENCE
    while True:
        try:
            return asked_twice(call)
        except RateLimitedError as limited:
            if ctx.clock.cancelled.is_set() or remaining(ctx.clock, deadline) <= 0:
                raise
            try:
                ctx.clock.sleep(RATE_LIMIT_PAUSE)
            except CancelledError:
                raise limited from None


def delete_runners(
    ctx: Context,
    clients: Clients,
    runner_ids: list[int],
    *,
    name_prefix: str | None = None,
    names: Collection[str] = (),
    deadline: float | None = None,
) -> None:
    """Delete ``runner_ids`` plus the runners named ``names`` or starting with
    ``name_prefix``. Nothing here raises: a runner left registered costs nothing, and
    GitHub refuses to delete one still running a job, which goes offline with its pod.
    Past ``deadline`` (a ``ctx.clock.monotonic()`` value) the rest are left to a later
    step."""
    github, scope = clients.github, ctx.scope
    if github is None or scope is None:
        return
    ids = list(dict.fromkeys(runner_ids))
    if name_prefix or names:
        try:
            ids += [
                r.id
                for r in _patiently(ctx, partial(github.list_runners, scope))
                if (r.name in names or (name_prefix and r.name.startswith(name_prefix)))
                and r.id not in ids
            ]
        except ActionError as exc:
            ctx.workflow.warning(f"Could not list runners to find leftovers: {exc.sentence()}")
    for runner_id in ids:
        if deadline is not None and remaining(ctx.clock, deadline) <= 0:
            ctx.workflow.debug(f"Runner {runner_id} is left for the post step to delete.")
            continue
        try:
            _patiently(ctx, partial(github.delete_runner, scope, runner_id))
        except RunnerBusyError as busy:
            ctx.workflow.warning(busy.sentence())
        except ActionError as exc:
            ctx.workflow.warning(
                f"Runner {runner_id} could not be deleted: {exc.sentence()} It is ephemeral "
                "and goes offline with its pod; `mode: reap` removes it later."
            )

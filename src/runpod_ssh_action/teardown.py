"""Ending what a step made: pods terminated (never merely stopped), runners deleted.

Used by every path that ends things: a failed or cancelled start, the post step,
``stop`` and ``reap``. Pods already gone and runners already removed count as done.
A pod that cannot be terminated is the one outcome that costs the user money, so it
is reported loudly with its id and where to end it by hand.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .context import Clients, Context
from .errors import ActionError
from .runpod import Pod

CONSOLE = "https://www.runpod.io/console/pods"


@dataclass(frozen=True)
class Ended:
    pod_id: str
    name: str | None
    outcome: str  # "terminated", "already gone", or "FAILED: ..."
    uptime_seconds: float | None
    cost_per_hr: float | None


def tear_down(
    ctx: Context,
    clients: Clients,
    pod_ids: list[str],
    runner_ids: list[int],
    *,
    name_prefix: str | None,
) -> list[Ended]:
    """Terminate ``pod_ids`` plus any pod whose name starts with ``name_prefix`` (the
    ones whose id never reached us), and delete ``runner_ids`` plus runners named
    with that prefix. Returns one row per pod; raises nothing for a pod it could not
    end, but reports it as an error annotation."""
    runpod = clients.runpod
    ids = list(dict.fromkeys(pod_ids))
    if name_prefix:
        try:
            ids += [p.id for p in runpod.list_pods(name_prefix) if p.id not in ids]
        except ActionError as exc:
            ctx.workflow.warning(f"Could not list pods to find leftovers: {exc.sentence()}")
    known = _describe(ctx, clients, ids)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(ids))), thread_name_prefix="end") as pool:
        outcomes = list(pool.map(lambda pod_id: _terminate(clients, pod_id), ids))
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
                f"Pod {pod_id} could not be terminated and may still cost money: {outcome[8:]}. "
                f"Terminate it in the RunPod console ({CONSOLE}) or run this action with "
                "mode: reap.",
                title="Pod left running",
            )
    _delete_runners(ctx, clients, runner_ids, name_prefix)
    return rows


def _describe(ctx: Context, clients: Clients, ids: list[str]) -> dict[str, Pod]:
    if not ids:
        return {}
    try:
        return {k: v for k, v in clients.runpod.pods(ids).items() if v is not None}
    except ActionError as exc:
        ctx.workflow.debug(f"Could not read pod uptimes before terminating: {exc.sentence()}")
        return {}


def _terminate(clients: Clients, pod_id: str) -> str:
    try:
        return "terminated" if clients.runpod.terminate(pod_id) else "already gone"
    except ActionError as exc:
        return f"FAILED: {exc.sentence()}"


def _delete_runners(
    ctx: Context, clients: Clients, runner_ids: list[int], name_prefix: str | None
) -> None:
    github = clients.github
    if github is None or ctx.scope is None:
        return
    ids = list(dict.fromkeys(runner_ids))
    if name_prefix:
        try:
            ids += [
                r.id
                for r in github.list_runners(ctx.scope)
                if r.name.startswith(name_prefix) and r.id not in ids
            ]
        except ActionError as exc:
            ctx.workflow.warning(f"Could not list runners to find leftovers: {exc.sentence()}")
    for runner_id in ids:
        try:
            github.delete_runner(ctx.scope, runner_id)
        except ActionError as exc:
            ctx.workflow.warning(
                f"Runner {runner_id} could not be deleted: {exc.sentence()} It is ephemeral "
                "and goes offline with its pod; `mode: reap` removes it later."
            )

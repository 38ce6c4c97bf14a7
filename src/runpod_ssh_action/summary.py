"""Markdown for the job summary: attempts, pods, phases, costs, API calls, errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .capacity import Attempt
from .errors import ActionError
from .timeline import Timeline
from .transport import OperationStats


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = ("" if cell is None else str(cell).replace("|", "\\|") for cell in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _money(value: float | None) -> str:
    return "" if value is None else f"${value:.3f}"


def failure(error: ActionError, step: str) -> str:
    """The pypa-style failure template: what happened, why, how to fix it."""
    text = f"## ❌ {step} failed\n\n**What failed:** {error.what.rstrip('.')}.\n\n"
    if error.why:
        text += f"**Why:** {error.why.rstrip('.')}.\n\n"
    if error.fix:
        text += f"**How to fix it:** {error.fix.rstrip('.')}.\n\n"
    return text


def attempts(items: Sequence[Attempt]) -> str:
    rows = [
        (
            "all" if a.index is None else a.index,
            a.gpu_type,
            a.capacity,
            _money(a.price_per_hour),
            a.outcome,
        )
        for a in items
    ]
    return "### Capacity attempts\n\n" + table(
        ("pod", "GPU type", "capacity", "USD/h", "outcome"), rows
    )


def pods(rows: Sequence[Sequence[object]]) -> str:
    return "### Pods\n\n" + table(
        ("pod", "GPU", "capacity", "cloud / location", "USD/h", "SSH", "runner"), rows
    )


def phases(timeline: Timeline, pod_ids: Sequence[str]) -> str:
    table_rows = []
    gantt = [
        "```mermaid",
        "gantt",
        "    title Start phases (seconds)",
        "    dateFormat X",
        "    axisFormat %s",
    ]
    for pod_id in pod_ids:
        spans = timeline.phases(pod_id)
        table_rows.append((pod_id, *(f"{end - begin:.1f} s" for _, begin, end in spans)))
        gantt.append(f"    section {pod_id}")
        for phase, begin, end in spans:
            gantt.append(f"    {phase} : {int(begin * 1000)}, {max(int(end * 1000), 1)}")
    gantt.append("```")
    header = ("pod", *(phase for phase, _, _ in timeline.phases(pod_ids[0]))) if pod_ids else ()
    return "### Phases\n\n" + table(header, table_rows) + "\n" + "\n".join(gantt) + "\n"


def costs(rows: Sequence[tuple[str, str, float | None, float | None]]) -> str:
    """(pod, outcome, uptime seconds, USD/h) rows with the cost of each pod so far."""
    body = []
    total = 0.0
    for pod_id, outcome, uptime, rate in rows:
        cost = (uptime or 0) / 3600 * (rate or 0)
        total += cost
        body.append(
            (
                pod_id,
                outcome,
                "" if uptime is None else f"{uptime / 60:.1f} min",
                _money(rate),
                _money(cost),
            )
        )
    return (
        "### Pods ended\n\n"
        + table(("pod", "outcome", "uptime", "USD/h", "cost"), body)
        + f"\nEstimated total: **{_money(total)}**\n"
    )


def api_calls(stats: dict[str, OperationStats]) -> str:
    rows = [
        (
            op,
            s.calls,
            s.retries,
            s.failures,
            f"{s.total_ms / max(s.calls, 1):.0f} ms",
            ", ".join(f"{k} x{v}" for k, v in sorted(s.errors.items())),
        )
        for op, s in sorted(stats.items())
    ]
    return (
        "<details><summary>API calls</summary>\n\n"
        + table(("operation", "calls", "retries", "failures", "mean", "errors"), rows)
        + "\n</details>\n"
    )

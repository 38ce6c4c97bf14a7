"""Markdown for the job summary: attempts, pods, phases, costs, API calls, errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .capacity import Attempt
from .errors import ActionError
from .timeline import Timeline
from .transport import OperationStats

# What makes Markdown more than text: links and images ([ ] !), HTML and autolinks
# (< > &), code spans, emphasis, strikethrough, math ($), table pipes, and the escape
# itself. Only these are escaped, so a secret (base64, tokens with "_", PEM lines)
# stays verbatim and the masker, which runs on the finished summary, still finds it.
_SPECIAL = re.compile(r"([\\`*\[\]<>&|!~$])")
# GFM links bare URLs and www. names with no brackets at all; an entity for the ":" or
# "." is not seen by that matcher but renders as the character itself.
_BARE_URL = re.compile(r"://")
_BARE_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
# A pod id goes into a Mermaid block, where a backslash is no escape.
_UNSAFE_IN_MERMAID = re.compile(r"[^A-Za-z0-9_-]")


def text(value: object) -> str:
    """``value`` as literal text in Markdown, on one line.

    Everything a pod, an API or an error message says passes here before it reaches
    the summary: a pod's bootstrap output is written by whoever controls the pod."""
    out = _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return _BARE_WWW.sub(r"\1&#46;", _BARE_URL.sub("&#58;//", out))


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(map(text, header)) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = ("" if cell is None else text(cell) for cell in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _money(value: float | None) -> str:
    return "" if value is None else f"${value:.3f}"


def failure(error: ActionError, step: str) -> str:
    """The pypa-style failure template: what happened, why, how to fix it."""
    out = f"## ❌ {text(step)} failed\n\n**What failed:** {text(error.what.rstrip('.'))}.\n\n"
    if error.why:
        out += f"**Why:** {text(error.why.rstrip('.'))}.\n\n"
    if error.fix:
        out += f"**How to fix it:** {text(error.fix.rstrip('.'))}.\n\n"
    return out


def pod_warning(pod_id: str, message: str) -> str:
    """A warning a pod's bootstrap printed (``RPSA-WARN``)."""
    return f"> ⚠️ **Pod {text(pod_id)}:** {text(message)}\n\n"


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
        gantt.append(f"    section {_UNSAFE_IN_MERMAID.sub('_', pod_id)}")
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

"""The results as Markdown tables, and the part of BENCHMARKS.md they replace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"


def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _s(seconds: float) -> str:
    return f"{seconds:.2f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def render(results: dict[str, Any]) -> str:
    parts = [_machine(results)]
    if results.get("readiness"):
        parts.append(_readiness(results["readiness"]))
    if results.get("fleet"):
        parts += [
            _requests(results["fleet"]),
            _scale(results["fleet"], results.get("fleet_ssh", []), results.get("fleet_slow", [])),
            _teardown(results["fleet"]),
        ]
    if results.get("cold_start"):
        parts.append(_cold_start(results["cold_start"], results.get("fleet", [])))
    return "\n".join(parts)


def _machine(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (
        f"Measured {results['date']} with `{results['command']}` in {results['seconds']:.0f} s "
        f"on {m['cpus']} CPU(s) ({m['cpu']}), {m['memory_gb']:.0f} GB, {m['system']}, "
        f"Python {m['python']}, {m['openssh']}; load average "
        f"{m['load_before']:.1f} before and {m['load_after']:.1f} after (the machine is "
        "shared, so compare the ratios, not the absolute seconds).\n"
    )


def _readiness(rows: list[dict[str, Any]]) -> str:
    by_key = {(r["boot_delay"], r["mode"], r["strategy"]): r for r in rows}
    out = []
    for (boot, mode, strategy), row in sorted(by_key.items()):
        if strategy != "adaptive":
            continue
        fixed = by_key.get((boot, mode, "fixed"))
        out.append(
            (
                f"{boot:g}",
                "runner" if mode == "runner" else "SSH only",
                _s(row["floor"]),
                _s(row["overhead"]),
                _s(row["target"]),
                _yes(row["met"]),
                _s(fixed["overhead"]) if fixed else "-",
                f"{fixed['overhead'] / row['overhead']:.1f}x" if fixed else "-",
                _s(row["total"]),
                _s(fixed["total"]) if fixed else "-",
            )
        )
    return "### 1. Readiness overhead\n\n" + table(
        (
            "boot (s)",
            "mode",
            "floor (s)",
            "overhead (s)",
            "target (s)",
            "met",
            "fixed schedule: overhead (s)",
            "fixed / adaptive",
            "start to outputs (s)",
            "fixed: start to outputs (s)",
        ),
        out,
    )


def _requests(rows: list[dict[str, Any]]) -> str:
    one = next((r for r in rows if r["count"] == 1), rows[0])
    base = one["start_requests"]["runpod"] + one["start_requests"]["github"]
    out = []
    for row in rows:
        start, stop = row["start_requests"], row["stop"]["requests"]
        total = start["runpod"] + start["github"]
        out.append(
            (
                row["count"],
                start["runpod"],
                start["github"],
                total,
                f"{total / base:.2f}x",
                f"{start['status_requests']} ({start['naive_status_requests']})",
                start["runpod"]
                + start["github"]
                - start["status_requests"]
                + start["naive_status_requests"],
                stop["runpod"] + stop["github"],
                start["busiest_minute"],
                start["rate_limited"] + stop["rate_limited"],
            )
        )
    return "### 2. Requests for one start and one stop\n\n" + table(
        (
            "pods",
            "start: RunPod",
            "start: GitHub",
            "start: total",
            "vs one pod",
            "status requests (one per pod per round)",
            "start total, one per pod per round",
            "stop: total",
            "busiest minute, RunPod (budget 100)",
            "HTTP 429",
        ),
        out,
    )


def _scale(*sets: list[dict[str, Any]]) -> str:
    out = []
    for rows in sets:
        one = next((r for r in rows if r["count"] == 1), rows[0]) if rows else None
        for row in rows:
            ready = row["phases"][2]["ended"]
            creates = row["creates"]
            out.append(
                (
                    "runner" if row["mode"] == "runner" else "SSH only",
                    f"{row['boot_delay']:g}",
                    row["count"],
                    _s(row["total"]),
                    f"{row['total'] / one['total']:.2f}" if one else "-",
                    f"{creates['span']:.2f} / {creates['mean']:.2f}",
                    _s(ready),
                    _s(row["total"] - ready),
                    _s(row["cpu_seconds"]),
                    f"{row['max_rss_kb'] / 1024:.0f}",
                )
            )
    return "### 3. Scale (and 5. peak memory)\n\n" + table(
        (
            "mode",
            "pod boot (s)",
            "pods",
            "start to outputs (s)",
            "ratio to one pod",
            "creates: span / mean request (s)",
            "last pod ready (s)",
            "after the last pod was ready (s)",
            "CPU of the action and its ssh clients (s)",
            "peak RSS of the action (MB)",
        ),
        out,
    )


def _teardown(rows: list[dict[str, Any]]) -> str:
    out = []
    for row in rows:
        stop = row["stop"]
        out.append(
            (
                row["count"],
                _s(stop["seconds"]),
                _s(stop["api_seconds"]),
                stop["requests"]["runpod"] + stop["requests"]["github"],
                stop["terminations"],
                f"{stop['termination_span']:.2f} / {stop['termination_sum']:.2f}",
                f"{stop['runner_deletions']['span']:.2f}",
                stop["requests"]["busiest_minute"],
                f"{stop['pods_left']} / {stop['runners_left']}",
            )
        )
    return "### 6. Teardown (`mode: stop` by run id)\n\n" + table(
        (
            "pods",
            "stop process (s)",
            "first to last request (s)",
            "requests",
            "terminations",
            "terminations: span / sum of durations (s)",
            "runner deletions: span (s)",
            "busiest minute, RunPod",
            "pods / runners left",
        ),
        out,
    )


def _cold_start(cold: dict[str, Any], fleet: list[dict[str, Any]]) -> str:
    text = "### 4. Cold start (and 5. installed size)\n\n"
    first = cold["first_request"]
    text += (
        f"Process start to the first API request: median {_s(first['median'])} s over "
        f"{first['runs']} starts (min {_s(first['min'])} s).\n\n"
    )
    imports = cold["imports"]
    rows = [
        (
            "start path (`runpod_ssh_action.cli`, `.lifecycle`)",
            _s(imports["ours"]),
            _s(imports["ours_cpu"]),
            ", ".join(f"{name} {ms:g}" for name, ms in imports["ours_heaviest"]),
        )
    ]
    if "sdk" in imports:
        rows.append(
            (
                f"official SDK (`runpod` {imports['sdk_version']})",
                _s(imports["sdk"]),
                _s(imports["sdk_cpu"]),
                ", ".join(f"{name} {ms:g}" for name, ms in imports["sdk_heaviest"]),
            )
        )
    text += table(
        (
            "import",
            "wall (s, median)",
            "CPU (s, median)",
            "heaviest packages (ms of their own modules, -X importtime)",
        ),
        rows,
    )
    if "sdk" in imports:
        text += (
            f"\nRatio, ours / SDK, over {imports['repeats']} alternating pairs: wall "
            f"{imports['ratio']:.2f}, CPU {imports['cpu_ratio']:.2f} (target < 0.33: "
            f"{_yes(imports['cpu_ratio'] < 1 / 3)}).\n"
        )
    else:
        text += f"\nThe SDK was not measured: {imports.get('sdk_missing', 'quick run')}.\n"
    sizes = cold.get("sizes")
    if sizes:
        ours = sizes["runpod-ssh-action"]
        text += (
            f"\nInstalled runtime dependencies: ours {ours['bytes'] / 1e6:.1f} MB in "
            f"{len(ours['dependencies'])} distributions ({', '.join(ours['dependencies'])})"
        )
        if "runpod" in sizes:
            sdk = sizes["runpod"]
            text += (
                f"; the SDK's {sdk['bytes'] / 1e6:.1f} MB in {len(sdk['dependencies'])} "
                "distributions"
            )
        text += ".\n"
    return text


def update(path: Path, markdown: str) -> None:
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise RuntimeError(f"{path.name} lacks the markers {BEGIN} and {END}")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{markdown}\n{END}{tail}", encoding="utf-8")

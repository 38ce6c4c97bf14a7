"""The phases chart: ``python -m bench.chart RESULTS.json OUT.png``.

Runs in any Python with matplotlib (the benchmark's own environment has it); it reads
only the results file. One panel per boot time with the four starts of figure 1, and
one panel with the starts of 1 to 30 pods; each bar is a start, split into its phases.
The provider's own time is grey and hatched: everything else is the action's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

ACTION_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3")
PROVIDER_COLOURS = ("#BBBBBB", "#DDDDDD")


def _bars(results: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    panels = []
    readiness = results.get("readiness", [])
    for boot in sorted({r["boot_delay"] for r in readiness}):
        rows = [r for r in readiness if r["boot_delay"] == boot]
        rows.sort(key=lambda r: (r["mode"] != "runner", r["strategy"] != "adaptive"))
        bars = [
            (f"{'runner' if r['mode'] == 'runner' else 'SSH only'}, {r['strategy']}", r)
            for r in rows
        ]
        panels.append((f"Pods boot in {boot:g} s: one pod, adaptive vs fixed schedule", bars))
    for key, what in (("fleet", "with runners"), ("fleet_ssh", "SSH only")):
        rows = results.get(key, [])
        if rows:
            bars = [(f"{r['count']} pod(s)", r) for r in rows]
            boot = rows[0]["boot_delay"]
            panels.append((f"Scale: pods {what}, boot in {boot:g} s, adaptive", bars))
    return panels


def draw(results: dict[str, Any], out: Path) -> None:
    panels = _bars(results)
    phase_names: list[str] = []
    provider: set[str] = set()
    for _, bars in panels:
        for _, row in bars:
            for phase in row["phases"]:
                if phase["name"] not in phase_names:
                    phase_names.append(phase["name"])
                if phase["provider"]:
                    provider.add(phase["name"])
    colours: dict[str, str] = {}
    action_index = provider_index = 0
    for name in phase_names:
        if name in provider:
            colours[name] = PROVIDER_COLOURS[provider_index % len(PROVIDER_COLOURS)]
            provider_index += 1
        else:
            colours[name] = ACTION_COLOURS[action_index % len(ACTION_COLOURS)]
            action_index += 1

    heights = [0.5 * len(bars) + 0.3 for _, bars in panels]
    # Inches: the title and legend above, the gaps between panels, the axis label below.
    top, gap, bottom = 1.3, 0.7, 0.6
    total = top + sum(heights) + gap * (len(panels) - 1) + bottom
    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(11, total),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    figure.subplots_adjust(
        left=0.15,
        right=0.98,
        top=1 - top / total,
        bottom=bottom / total,
        hspace=gap / (sum(heights) / len(panels)),
    )
    for axis, (title, bars) in zip(axes[:, 0], panels, strict=True):
        longest = max(row["total"] for _, row in bars)
        for position, (_, row) in enumerate(bars):
            for phase in row["phases"]:
                width = phase["ended"] - phase["began"]
                axis.barh(
                    position,
                    width,
                    left=phase["began"],
                    height=0.62,
                    color=colours[phase["name"]],
                    hatch="//" if phase["provider"] else None,
                    edgecolor="white",
                    linewidth=0.6,
                )
            axis.text(
                row["total"] + longest * 0.01,
                position,
                f"{row['total']:.1f} s (overhead {row['overhead']:.2f} s)",
                va="center",
                fontsize=8,
            )
        axis.set_yticks(range(len(bars)), [label for label, _ in bars], fontsize=9)
        axis.invert_yaxis()
        axis.set_xlim(0, longest * 1.3)
        axis.set_title(title, fontsize=10, loc="left")
        axis.tick_params(axis="x", labelsize=8)
        axis.grid(axis="x", alpha=0.3)
        axis.set_axisbelow(True)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
    axes[-1, 0].set_xlabel("seconds since the action's process started")
    figure.legend(
        handles=[
            Patch(
                facecolor=colours[name],
                hatch="//" if name in provider else None,
                edgecolor="white",
                label=name,
            )
            for name in phase_names
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.4 / total),
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    figure.suptitle(
        "runpod-ssh-action: the phases of a start, against the stand-in",
        fontsize=12,
        y=1 - 0.1 / total,
        va="top",
    )
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(argv: list[str]) -> int:
    results_path, out = (Path(a) for a in argv)
    draw(json.loads(results_path.read_text(encoding="utf-8")), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

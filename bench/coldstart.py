"""Figures 4 and 5b: import time of the start path, and installed dependency size,
next to the official RunPod SDK's.

Import times are taken inside fresh interpreters around the imports, as wall time and
as CPU time (the process's and that of any child it waited for: the SDK runs a
subprocess while it imports). The two packages alternate, so a burst of load on this
shared machine hits both alike; the median of each is kept. CPU time is the steadier
figure on a shared machine, so the target is judged on it. ``-X importtime`` then
shows where the time goes. Installed sizes add up the files each distribution
installed (its RECORD), over the whole tree of its runtime requirements.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

START_PATH = ("runpod_ssh_action.cli", "runpod_ssh_action.lifecycle")
SDK = ("runpod",)
OUR_DISTRIBUTION = "runpod-ssh-action"
SDK_DISTRIBUTION = "runpod"

_TIME_IMPORTS = """
import resource, sys, time
def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
wall, used = time.perf_counter(), cpu()
for name in sys.argv[1:]:
    __import__(name)
print(time.perf_counter() - wall, cpu() - used)
"""

_INSTALLED_SIZE = """
import json, re, sys
from importlib import metadata
from packaging.requirements import Requirement

def closure(root):
    seen, todo = {}, [root]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen

def size(dist):
    total = 0
    for file in dist.files or []:
        path = file.locate()
        if path.is_file():
            total += path.stat().st_size
    return total

result = {}
for root in sys.argv[1:]:
    dists = closure(root)
    # The root itself is measured apart: an editable install has no files of its own.
    deps = {name: size(d) for name, d in dists.items() if name != root}
    result[root] = {"dependencies": sorted(deps), "bytes": sum(deps.values())}
print(json.dumps(result))
"""


def import_seconds(python: Path, modules: tuple[str, ...]) -> tuple[float, float]:
    """(wall, CPU) seconds to import ``modules`` in a fresh interpreter."""
    done = subprocess.run(
        [str(python), "-c", _TIME_IMPORTS, *modules],
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def compare_imports(python: Path, repeats: int, with_sdk: bool) -> dict[str, Any]:
    ours: list[tuple[float, float]] = []
    sdk: list[tuple[float, float]] = []
    for _ in range(repeats):
        ours.append(import_seconds(python, START_PATH))
        if with_sdk:
            sdk.append(import_seconds(python, SDK))
    result: dict[str, Any] = {
        "repeats": repeats,
        "ours": statistics.median(w for w, _ in ours),
        "ours_cpu": statistics.median(c for _, c in ours),
        "ours_all": ours,
        "ours_heaviest": heaviest_imports(python, START_PATH),
    }
    if with_sdk:
        result |= {
            "sdk": statistics.median(w for w, _ in sdk),
            "sdk_cpu": statistics.median(c for _, c in sdk),
            "sdk_all": sdk,
            "sdk_version": _version(python, SDK_DISTRIBUTION),
            "sdk_heaviest": heaviest_imports(python, SDK),
        }
        result["ratio"] = result["ours"] / result["sdk"]
        result["cpu_ratio"] = result["ours_cpu"] / result["sdk_cpu"]
    return result


def heaviest_imports(python: Path, modules: tuple[str, ...], top: int = 8) -> list[list[Any]]:
    """Top-level packages by the import time spent in their own modules (ms)."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"import {', '.join(modules)}"],
        capture_output=True,
        text=True,
        check=True,
    )
    spent: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not own.isdigit():
            continue
        package = name.split(".")[0]
        spent[package] = spent.get(package, 0.0) + int(own) / 1000
    ranked = sorted(spent.items(), key=lambda item: -item[1])[:top]
    return [[name, round(ms, 1)] for name, ms in ranked]


def installed_sizes(python: Path, roots: tuple[str, ...]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", _INSTALLED_SIZE, *roots],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _version(python: Path, distribution: str) -> str:
    done = subprocess.run(
        [
            str(python),
            "-c",
            f"from importlib.metadata import version; print(version({distribution!r}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()

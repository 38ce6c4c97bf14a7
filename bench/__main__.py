"""``python -m bench``: run every benchmark, write the results, chart and tables.

Full run (``make bench``, about a quarter of an hour): results in
``bench/results.json``, the chart in ``bench/phases.png``, the tables in BENCHMARKS.md.
``--quick`` runs each measurement at its smallest size into ``--out`` (a temporary
directory if not given), skips the official SDK's environment and leaves the
repository alone: it checks that the harness works, it measures nothing worth keeping.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import coldstart, fleet, readiness, report, sdkenv
from .process import ROOT

CHART = "phases.png"
RESULTS = "results.json"


@dataclass(frozen=True)
class Sizes:
    floors: tuple[float, ...]
    strategies: dict[str, str]
    stagger: float
    counts: tuple[int, ...]
    ssh_counts: tuple[int, ...]
    fleet_boot: float
    slow_counts: tuple[int, ...]
    slow_boot: float
    import_repeats: int
    sdk: bool


FULL = Sizes(
    floors=readiness.FLOORS,
    strategies={"adaptive": "adaptive", "fixed": "fixed"},
    stagger=readiness.STAGGER,
    counts=fleet.COUNTS,
    ssh_counts=fleet.SSH_ONLY_COUNTS,
    fleet_boot=fleet.BOOT_DELAY,
    slow_counts=fleet.SLOW_COUNTS,
    slow_boot=fleet.SLOW_BOOT_DELAY,
    import_repeats=15,
    sdk=True,
)
QUICK = Sizes(
    floors=(0.5,),
    strategies={"adaptive": "adaptive", "fixed": "fixed:1:0.5"},
    stagger=0.0,
    counts=(1, 2),
    ssh_counts=(1, 2),
    fleet_boot=0.5,
    slow_counts=(1,),
    slow_boot=1.0,
    import_repeats=1,
    sdk=False,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smallest sizes, to check the harness")
    parser.add_argument("--out", type=Path, help="directory for results.json and the chart")
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="RESULTS",
        help="measure nothing: draw the chart and tables again from a results.json",
    )
    args = parser.parse_args(argv)
    if args.from_results:
        results = json.loads(args.from_results.read_text(encoding="utf-8"))
        out = args.out or args.from_results.parent
        return _publish(results, out, sdkenv.existing(), update=not results["quick"])
    sizes = QUICK if args.quick else FULL
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="rpsa-bench-")) if args.quick else ROOT / "bench"
    )
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    if not args.quick:
        # The image byte-compiles the package when pip installs it; a checkout may run
        # with PYTHONDONTWRITEBYTECODE and would compile every module on every start.
        compileall.compile_dir(ROOT / "src" / "runpod_ssh_action", quiet=1)
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "machine": _machine(),
    }
    venv_python, venv_problem = sdkenv.ensure() if sizes.sdk else (None, "quick run")
    with tempfile.TemporaryDirectory(prefix="rpsa-bench-") as scratch:
        work = Path(scratch)
        _step("readiness", sizes.floors)
        results["readiness"] = readiness.measure(
            work, sizes.floors, sizes.strategies, sizes.stagger
        )
        _step("starts and stops", sizes.counts)
        results["fleet"] = fleet.measure(work, sizes.counts, sizes.fleet_boot, runner=True)
        _step("starts without runners", sizes.ssh_counts)
        results["fleet_ssh"] = fleet.measure(work, sizes.ssh_counts, sizes.fleet_boot, runner=False)
        _step("starts with a longer boot", sizes.slow_counts)
        results["fleet_slow"] = fleet.measure(
            work, sizes.slow_counts, sizes.slow_boot, runner=True, stop=False
        )
    _step("cold start", sizes.import_repeats)
    results["cold_start"] = _cold_start(results, sizes, venv_python, venv_problem)
    results["machine"]["load_after"] = os.getloadavg()[0]
    results["seconds"] = time.monotonic() - began
    (out / RESULTS).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return _publish(results, out, venv_python, update=not args.quick)


def _publish(results: dict[str, Any], out: Path, venv_python: Path | None, update: bool) -> int:
    chart_problem = _chart(out / RESULTS, out / CHART, venv_python)
    markdown = report.render(results)
    print(markdown)
    print(f"results: {out / RESULTS}")
    print(f"chart: {out / CHART}" if not chart_problem else f"no chart: {chart_problem}")
    if update:
        report.update(ROOT / "BENCHMARKS.md", markdown)
        print("BENCHMARKS.md updated")
    return 0


def _step(what: str, sizes: object) -> None:
    print(f"bench: {what} {sizes}", file=sys.stderr, flush=True)


def _cold_start(
    results: dict[str, Any], sizes: Sizes, venv_python: Path | None, venv_problem: str
) -> dict[str, Any]:
    firsts = [r["first_request"] for r in results["readiness"] if r["strategy"] == "adaptive"]
    firsts += [r["first_request"] for r in results["fleet"] + results["fleet_ssh"]]
    python = venv_python or Path(sys.executable)
    imports = coldstart.compare_imports(python, sizes.import_repeats, venv_python is not None)
    if venv_python is None:
        imports["sdk_missing"] = venv_problem
    roots = (coldstart.OUR_DISTRIBUTION,) + (
        (coldstart.SDK_DISTRIBUTION,) if venv_python is not None else ()
    )
    return {
        "first_request": {
            "runs": len(firsts),
            "median": statistics.median(firsts),
            "min": min(firsts),
        },
        "imports": imports,
        "sizes": coldstart.installed_sizes(python, roots),
    }


def _chart(results: Path, chart: Path, venv_python: Path | None) -> str:
    """Draw with the first Python at hand that has matplotlib; say why not otherwise."""
    for python in (venv_python, Path(sys.executable)):
        if python is None:
            continue
        probe = subprocess.run(
            [str(python), "-c", "import matplotlib"], capture_output=True, check=False
        )
        if probe.returncode != 0:
            continue
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
        subprocess.run(
            [str(python), "-m", "bench.chart", str(results), str(chart)], env=env, check=True
        )
        return ""
    return "no Python here has matplotlib (the full run installs it in its own environment)"


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ssh = shutil.which("ssh")
    openssh = (
        subprocess.run([ssh, "-V"], capture_output=True, text=True, check=False).stderr.strip()
        if ssh
        else "no ssh"
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        "system": platform.platform(),
        "python": platform.python_version(),
        "openssh": openssh.split(",")[0],
        "load_before": os.getloadavg()[0],
    }


if __name__ == "__main__":
    sys.exit(main())

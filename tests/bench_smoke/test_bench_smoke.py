"""The benchmark harness still runs: ``python -m bench --quick``, end to end.

Not a timing test: it checks that every measurement produced its rows and that the
stand-in's record came out consistent, never how fast anything was.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_quick_benchmark_runs_every_measurement(tmp_path: Path) -> None:
    if shutil.which("ssh") is None or not Path("/usr/sbin/sshd").exists():
        pytest.skip("OpenSSH's client and server are needed (apt-get install openssh-server)")
    published = (ROOT / "BENCHMARKS.md").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "results.json").read_text())

    starts = {(row["mode"], row["strategy"]) for row in results["readiness"]}
    assert starts == {(m, s) for m in ("runner", "ssh") for s in ("adaptive", "fixed")}
    for row in results["readiness"]:
        ends = [phase["ended"] for phase in row["phases"]]
        assert ends == sorted(ends) and ends[-1] == row["total"]
        assert 0 < row["overhead"] < row["total"]

    assert [row["count"] for row in results["fleet"]] == [1, 2]
    for row in results["fleet"]:
        start = row["start_requests"]
        assert 0 < start["status_requests"] <= start["naive_status_requests"]
        assert row["max_rss_kb"] > 0
        assert row["stop"]["terminations"] == row["count"]
        assert row["stop"]["pods_left"] == 0 and row["stop"]["runners_left"] == 0

    assert [row["count"] for row in results["fleet_ssh"]] == [1, 2]
    assert all("stop" not in row for row in results["fleet_ssh"])

    cold = results["cold_start"]
    # Two adaptive starts of figure 1, and the four starts of the pod counts.
    assert cold["imports"]["ours"] > 0 and cold["first_request"]["runs"] == 6
    assert "runpod-ssh-action" in cold["sizes"]
    assert "### 1. Readiness overhead" in done.stdout
    # A quick run measures nothing worth publishing.
    assert (ROOT / "BENCHMARKS.md").read_text() == published

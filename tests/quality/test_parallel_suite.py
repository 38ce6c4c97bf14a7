"""The suite spread over pytest-xdist workers, as `make test` runs it, still says what it
is doing and still ends with the reliability table.

The workers run the tests and the controller prints the summary, without ever loading
the reliability suite's own conftest: a table kept there would be lost, so each worker
ships its share and the top-level conftest adds the shares up (tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MATRIX = "tests/reliability/test_fault_matrix.py::test_one_fault_on_any_call_leaks_nothing"


def test_two_workers_print_progress_and_one_reliability_table(tmp_path: Path) -> None:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("the fault matrix's stand-ins need OpenSSH's server (openssh-server)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RPSA_"))}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'inner'}",
            *(f"{MATRIX}[RunPod-{phase}]" for phase in ("post", "stop")),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert out.count("reliability: what held") == 1, out
    for phase in ("post", "stop"):
        what = f"fault matrix: RunPod calls in {phase}"
        assert re.search(rf"\[gw[01]\] {what}: 6/6 cases", out), out
        assert re.search(rf"^{what}\s+6\s+6\b", out, re.MULTILINE), out

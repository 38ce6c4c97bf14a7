"""The benchmark's own Python environment, apart from the project's.

A virtual environment under the user's cache directory holds the official RunPod SDK
(``runpod`` from PyPI), this project (editable, so it is the working tree that is
measured) and matplotlib for the chart. Import times and installed sizes of the two
are measured side by side in it, under the same ``site`` set-up, and nothing of the
SDK reaches the project's own environment.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

from .process import ROOT

PACKAGES = ("runpod", "matplotlib")
INSTALL_TIMEOUT = 1200


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runpod-ssh-action" / "bench-venv"


def python_of(directory: Path) -> Path:
    return directory / "bin" / "python"


def ensure(directory: Path | None = None) -> tuple[Path | None, str]:
    """The environment's Python, made or refreshed as needed; or None and why not."""
    directory = directory or cache_dir()
    python = python_of(directory)
    probe = [str(python), "-c", "import runpod, matplotlib, runpod_ssh_action"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python, ""
    try:
        if not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(directory)
        install = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *PACKAGES,
                "-e",
                str(ROOT),
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not make the environment in {directory}: {exc}"
    if install.returncode != 0:
        tail = " ".join(install.stderr.split())[-600:]
        return None, f"pip could not install {', '.join(PACKAGES)} (offline?): {tail}"
    return python, ""


def existing(directory: Path | None = None) -> Path | None:
    """The environment's Python if it was made before; None otherwise."""
    python = python_of(directory or cache_dir())
    return python if python.exists() else None

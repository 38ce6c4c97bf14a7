"""The README's terminal example, run as written against the stand-in.

Only the RunPod key and the endpoints come from the environment (the README's
``export RUNPOD_API_KEY=...`` line stands for that, and ``pip install .`` for the
installed package the suite runs); every other line runs in a shell exactly as the
README shows it, with ``GITHUB_ACTIONS`` and every ``GITHUB_*`` variable unset.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from runpod_ssh_action.sim import StandIn

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## From a terminal or another CI system"


def readme_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text[text.index(SECTION) :], re.S)
    assert block, "the README's terminal section has no sh code block"
    return [line for line in block[1].splitlines() if line.strip()]


def terminal_env(sim: StandIn, tmp_path: Path) -> dict[str, str]:
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GITHUB_", "INPUT_", "STATE_", "RUNNER_", "RUNPOD_"))
    }
    assert sim.ca_bundle
    return {
        **kept,
        "HOME": str(tmp_path / "home"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "RUNPOD_API_KEY": sim.runpod_api_key,
        "RUNPOD_GRAPHQL_URL": sim.runpod_url,
        "REQUESTS_CA_BUNDLE": sim.ca_bundle,
    }


def test_every_readme_terminal_line_works_as_written(sim: StandIn, tmp_path: Path) -> None:
    lines = readme_lines()
    assert lines[0] == "pip install ."
    assert lines[1].startswith("export RUNPOD_API_KEY=")
    env = terminal_env(sim, tmp_path)
    (tmp_path / "home").mkdir()
    outputs: dict[str, str] = {}
    for line in lines[2:]:
        done = subprocess.run(
            ["bash", "-c", line],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        shown = done.stdout + done.stderr
        assert done.returncode == 0, f"{line}\n{shown}"
        assert "::" not in shown, f"a workflow command in a terminal: {line}\n{shown}"
        assert sim.runpod_api_key not in shown, line
        assert "PRIVATE KEY" not in shown, line
        outputs[line.split("#")[0].split()[1]] = shown

    assert "NVIDIA RTX A6000" in outputs["gpus"]
    assert re.search(r"Outputs:\n  pod-id +[a-z0-9]+\n", outputs["start"]), outputs["start"]
    assert "Run id " in outputs["start"]
    key_path = re.search(r"ssh-key-path +(\S+)", outputs["start"])
    assert key_path and Path(key_path[1]).is_relative_to(tmp_path / "state")
    assert "rpsa-" in outputs["status"] and "RUNNING" in outputs["status"]
    # stop found the pods of the last start by name, and took its key with them.
    assert not sim.live_pods()
    assert "terminated" in outputs["stop"]
    assert not Path(key_path[1]).exists()
    # Nothing of this lands in a shared temp directory.
    assert not list(Path("/tmp").glob("runpod-ssh-action-state-*"))


def test_status_without_pods_says_so(sim: StandIn, tmp_path: Path) -> None:
    done = subprocess.run(
        ["runpod-ssh-action", "status"],
        env=terminal_env(sim, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "No pods of this action on the RunPod account."


def test_an_unknown_gpu_type_stops_before_anything_is_made(sim: StandIn, tmp_path: Path) -> None:
    done = subprocess.run(
        ["runpod-ssh-action", "start", "--runner", "false", "--gpu-types", "NVIDIA GTX 9999"],
        env=terminal_env(sim, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shown = done.stdout + done.stderr
    assert done.returncode == 1, shown
    errors = [line for line in shown.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "gpu-types" in errors[0] and "gpus" in errors[0], shown
    assert "Tearing down" not in shown and "Pods ended" not in shown, shown
    assert not sim.all_pods()


def test_stop_by_pod_id_with_only_the_runpod_key(sim: StandIn, tmp_path: Path) -> None:
    env = terminal_env(sim, tmp_path)
    started = subprocess.run(
        ["runpod-ssh-action", "start", "--runner", "false", "--count", "2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    outputs = json.loads(started.stdout)
    first, second = outputs["pod-id"].split(",")
    stopped = subprocess.run(
        ["runpod-ssh-action", "stop", "--pod-id", first],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    shown = stopped.stdout + stopped.stderr
    assert stopped.returncode == 0, shown
    lines = shown.splitlines()
    group = lines.index("== Terminating pods and deleting runners")
    assert lines[group + 1].startswith(f"Pod {first} (rpsa-") and "terminated" in lines[group + 1]
    assert lines[group + 2] == (
        "Runners are not deleted: no GitHub credentials were given. They are ephemeral and "
        "go offline with their pods."
    )
    assert [p.id for p in sim.live_pods()] == [second]
    # The other pod of that start still runs, so its key stays.
    assert Path(outputs["ssh-key-path"]).is_file()
    assert (
        subprocess.run(
            ["runpod-ssh-action", "stop"], env=env, capture_output=True, timeout=300, check=False
        ).returncode
        == 0
    )
    assert not sim.live_pods() and not Path(outputs["ssh-key-path"]).exists()


def test_the_stand_in_without_its_extra_says_how_to_install_it() -> None:
    blocked = (
        "import runpy, sys; sys.modules['graphql'] = None; sys.argv = ['-m', 'serve']; "
        "runpy.run_module('runpod_ssh_action.sim', run_name='__main__', alter_sys=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "The stand-in needs the 'sim' extra, and graphql is not installed: run pip install "
        "'.[sim]' in the checkout (or pip install 'runpod-ssh-action[sim]')."
    ]

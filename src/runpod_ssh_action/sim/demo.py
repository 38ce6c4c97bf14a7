"""``make demo``: one whole lifecycle of the real action against the local stand-in.

It runs ``entrypoint.py`` exactly as the GitHub runner would (inputs as ``INPUT_*``,
the ``GITHUB_OUTPUT``/``GITHUB_STATE``/``GITHUB_STEP_SUMMARY`` files), shows the
outputs, logs in to a pod with the ``ssh-command`` output, runs a job on one runner,
watches that pod end itself, runs ``stop``, and prints the job summary and what is
left at the stand-in: nothing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..workflow import parse_file_commands
from .config import SimConfig
from .harness import StandIn

ROOT = Path(__file__).resolve().parents[3]
GPU = "NVIDIA RTX A6000"


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def run_action(env: dict[str, str], *args: str) -> int:
    """Run the entrypoint, streaming its log indented, as the runner shows it."""
    entrypoint = ROOT / "entrypoint.py"
    command = (
        [sys.executable, str(entrypoint), *args]
        if entrypoint.exists()
        else [sys.executable, "-m", "runpod_ssh_action.cli", *(args or ("main",))]
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "STATE_"))}
    full_env.update(env)
    process = subprocess.Popen(
        command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    masks = 0
    for line in process.stdout:
        # The runner swallows ::add-mask:: lines; show that they came, not their text.
        if line.startswith("::add-mask::"):
            masks += 1
            continue
        if masks:
            print(f"    | ({masks} secret value(s) masked)", flush=True)
            masks = 0
        print(f"    | {line.rstrip()}", flush=True)
    return process.wait()


def wait(what: str, done: Callable[[], bool], timeout: float) -> bool:
    print(f"    waiting for {what} ", end="", flush=True)
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            print(" timed out", flush=True)
            return False
        print(".", end="", flush=True)
        time.sleep(0.5)
    print(" done", flush=True)
    return True


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rpsa-demo-") as tmp:
        say("Starting the stand-in: RunPod GraphQL + GitHub REST over HTTPS, pods as real sshd")
        with StandIn(SimConfig(tls=True, boot_delay=2.0), workdir=Path(tmp)) as sim:
            print(f"    RunPod: {sim.runpod_url}\n    GitHub: {sim.github_api_url}")

            say("start: two GPU pods with a runner each (`python entrypoint.py`)")
            env = sim.action_env(count=2, gpu_types=GPU, ssh_user=sim.ssh_user)
            if run_action(env) != 0:
                return 1
            outputs = parse_file_commands(Path(env["GITHUB_OUTPUT"]).read_text())
            say("Step outputs")
            for name in (
                "pod-id",
                "ssh-host",
                "ssh-port",
                "runner-label",
                "runner-name",
                "gpu-type",
                "capacity",
                "cost-per-hour",
                "ssh-command",
            ):
                print(f"    {name:14} {outputs[name]}")

            say("A later step logs in with the ssh-command output (strict host-key checking)")
            login = subprocess.run(
                [
                    *shlex.split(outputs["ssh-command"]),
                    "echo hello from pod $RUNPOD_POD_ID on $(hostname)",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            print(f"    $ ssh ... → {login.stdout.strip() or login.stderr.strip()}")

            say("GitHub sends a job to the runner label; one runner takes it")
            job = sim.github.dispatch_job(
                outputs["runner-label"], "echo running the GPU job on $RUNPOD_POD_ID"
            )
            wait("the job", lambda: sim.github.job(job)["status"] == "completed", 60)
            print(f"    job output: {sim.github.job(job)['output'].strip()}")
            wait(
                "that pod's watchdog to terminate it (its runner's one job is done)",
                lambda: len(sim.live_pods()) < 2,
                60,
            )

            say("stop: the paired stop job terminates the rest (`mode: stop`)")
            stop_env = sim.action_env(mode="stop", pod_id=outputs["pod-id"])
            code = run_action(stop_env)

            say("Job summaries (GITHUB_STEP_SUMMARY)")
            for path in (env["GITHUB_STEP_SUMMARY"], stop_env["GITHUB_STEP_SUMMARY"]):
                for line in Path(path).read_text().splitlines():
                    print(f"    {line}")

            pods, runners = len(sim.live_pods()), len(sim.github.runners())
            say(f"Final state at the stand-in: {pods} live pods, {runners} runners")
            return 0 if code == 0 and pods == 0 and runners == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Security issue #13, the small findings, through the real entrypoint and the stand-in:
the key is gone after the post step in every mode, the ``ssh-command`` output logs in
only to the pod whose key it holds whatever the runner's ssh config says, and text from
a pod reaches the job summary as text."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runpod_ssh_action.sim import StandIn

from . import actionrun

A6000 = "NVIDIA RTX A6000"
HOSTILE_CONFIG = "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"


def _handed_over(step: actionrun.Step) -> Path:
    """The folder of the key and known_hosts the start left for later steps."""
    key = Path(step.outputs["ssh-key-path"].replace("$RUNNER_TEMP", step.env["RUNNER_TEMP"]))
    assert key.is_file(), f"no key at {key}"
    return key.parent


def _through_the_output(
    step: actionrun.Step, *, ssh_config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A later ``run:`` step: ``${{ steps.x.outputs.ssh-command }} 'echo $RUNPOD_POD_ID'``.

    BatchMode keeps a refused login from waiting on a prompt. OpenSSH reads
    ~/.ssh/config from the passwd entry's home, not $HOME (openssh-portable ssh.c,
    ``pw->pw_dir``), so a runner's own config is put in with -F."""
    extra = "-o BatchMode=yes" + (f" -F '{ssh_config}'" if ssh_config else "")
    command = step.outputs["ssh-command"].replace("ssh ", f"ssh {extra} ", 1)
    return subprocess.run(
        ["sh", "-c", command + " 'echo $RUNPOD_POD_ID'"],
        env={"PATH": "/usr/bin:/bin", "RUNNER_TEMP": step.env["RUNNER_TEMP"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_post_step_of_a_successful_runner_start_removes_the_key(sim: StandIn) -> None:
    started = actionrun.run(sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user))
    assert started.returncode == 0, started.describe()
    folder = _handed_over(started)

    posted = actionrun.post(started)

    assert posted.returncode == 0, posted.describe()
    assert not folder.exists(), f"the post step left {sorted(folder.iterdir())}"
    assert not folder.parent.exists(), "the post step left the empty parent folder"
    # The pods are still up for their jobs: only the key went.
    assert [p.id for p in sim.live_pods()] == [started.outputs["pod-id"]]


def test_the_ssh_command_output_logs_in_from_a_path_with_a_space(
    sim: StandIn, tmp_path: Path
) -> None:
    env = sim.action_env(runner=False, ssh_user=sim.ssh_user)
    spaced = tmp_path / "runner temp"
    spaced.mkdir()
    env["RUNNER_TEMP"] = str(spaced)
    started = actionrun.run(env)
    assert started.returncode == 0, started.describe()
    assert " " in str(_handed_over(started))

    login = _through_the_output(started)

    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == started.outputs["pod-id"]
    assert actionrun.post(started).returncode == 0


def test_the_ssh_command_output_refuses_an_impostor_despite_the_ssh_config(
    sim: StandIn, tmp_path: Path
) -> None:
    started = actionrun.run(sim.action_env(runner=False, ssh_user=sim.ssh_user))
    assert started.returncode == 0, started.describe()
    config = tmp_path / "ssh_config"
    config.write_text(HOSTILE_CONFIG)
    # Another machine now answers at the pod's address: its host key is not the pinned one.
    known_hosts = _handed_over(started) / "known_hosts"
    pinned = known_hosts.read_text()
    entry, _, _ = pinned.partition(" ")
    impostor_dir = tmp_path / "impostor"
    impostor_dir.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor_dir / "key")],
        check=True,
    )
    impostor_key = (impostor_dir / "key.pub").read_text().split()[:2]
    known_hosts.write_text(f"{entry} {' '.join(impostor_key)}\n")
    key = _handed_over(started) / "id_ed25519"
    # What the config alone does with a changed host key: it logs in.
    trusting = subprocess.run(
        [
            "ssh",
            "-F",
            str(config),
            "-o",
            "BatchMode=yes",
            "-i",
            str(key),
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-p",
            started.outputs["ssh-port"],
            f"{sim.ssh_user}@{started.outputs['ssh-host']}",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert trusting.returncode == 0, trusting.stderr

    login = _through_the_output(started, ssh_config=config)

    assert login.returncode == 255, login.stdout
    assert "Host key verification failed" in login.stderr
    assert login.stdout == ""
    known_hosts.write_text(pinned)
    assert actionrun.post(started).returncode == 0


def test_a_pod_message_with_markup_reaches_the_summary_as_text(sim: StandIn) -> None:
    # The pod echoes the download URL in its RPSA-RESULT error line; the URL input
    # allows the characters of a Markdown image.
    image = "![x](https://evil.example/p.png)"
    url = sim.runner_download_url + "?" + image
    env = sim.action_env(
        gpu_types=A6000,
        ssh_user=sim.ssh_user,
        runner_download_url=url,
        runner_sha256="0" * 64,
    )

    step = actionrun.run(env)

    assert step.returncode == 1, step.describe()
    assert "BOOTSTRAP" in step.stdout or "bootstrap" in step.stdout.lower(), step.describe()
    assert "evil" in step.summary, step.summary
    assert image not in step.summary, step.summary
    assert "https://evil" not in step.summary, step.summary
    assert r"\!\[x\](https&#58;//evil.example/p.png)" in step.summary, step.summary


def test_step_debug_shows_every_api_request_masked(sim: StandIn) -> None:
    # ACTIONS_STEP_DEBUG makes the runner set runner.debug, exported as RUNNER_DEBUG=1
    # (actions/runner src/Runner.Worker/JobRunner.cs), and show ::debug:: lines
    # (ExecutionContext.cs, Debug()).
    env = sim.action_env(runner=False, ssh_user=sim.ssh_user) | {"RUNNER_DEBUG": "1"}

    started = actionrun.run(env)

    assert started.returncode == 0, started.describe()
    requests = [
        line for line in started.lines if line.startswith("::debug::") and '"request"' in line
    ]
    assert any('"operation": "podFindAndDeployOnDemand"' in line for line in requests) or any(
        "podRent" in line for line in requests
    ), started.stdout
    # The runner masks what ::add-mask:: names; nothing else may hold the key.
    shown = [line for line in started.lines if not line.startswith("::add-mask::")]
    assert not [line for line in shown if sim.runpod_api_key in line]
    assert actionrun.post(started).returncode == 0

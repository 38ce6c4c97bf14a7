"""bootstrap.sh on a real sshd "pod": runner start, secrets hygiene and the watchdog."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest
from pod_rig import (
    WAIT,
    FakeServices,
    PodFactory,
    PodUser,
    attack_as,
    leaks_in_cmdlines,
    read_report,
    runner_config,
    wait_until,
)

from runpod_ssh_action import ssh
from runpod_ssh_action.bootstrap import (
    BootstrapConfig,
    BootstrapError,
    BootstrapResult,
    bootstrap_at_login,
    runner_status,
)
from runpod_ssh_action.clock import SystemClock

JIT = "eyJqaXQiOiAiY29uZmlnIn0=\nline2 \"quote' $HOME `x` \\ and=equals"
TOKEN = "AABBCCREGISTRATIONTOKEN0123456789"
ACCOUNT_KEY = "rpa_ACCOUNTKEYNEVERSENT0123456789"


@pytest.fixture(autouse=True)
def account_key_in_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The action's own environment holds the user's key; the pod must never get it,
    though the test sshd would accept RUNPOD_* variables sent by the client."""
    monkeypatch.setenv("RUNPOD_API_KEY", ACCOUNT_KEY)
    monkeypatch.setenv("RUNPOD_POD_ID", "pod-of-the-client")


def _bootstrap(target: ssh.SshTarget, config: BootstrapConfig) -> BootstrapResult:
    _, result = bootstrap_at_login(
        target,
        lambda: config,
        clock=SystemClock(),
        deadline=time.monotonic() + WAIT,
        timeout=lambda: WAIT,
    )
    return result


def _terminations(services: FakeServices, count: int = 1) -> None:
    wait_until(lambda: len(services.terminated()) >= count, "podTerminate")


def _watchdog_log(work_dir: Path) -> str:
    path = work_dir / "watchdog.log"
    return path.read_text() if path.exists() else ""


def _secret_free(directory: Path, *values: str) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in values:
                assert value.encode() not in data, f"{value[:6]}... in {path}"


def test_jit_runner_gets_its_config_only_through_its_environment(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    config = runner_config(services, pod, secret=JIT)

    result = _bootstrap(pod.target, config)

    work_dir = pod.work_dir(config.runner_name)
    assert result.work_dir == str(work_dir)
    assert result.runner_pid is not None and result.warnings == ()
    wait_until(lambda: "runner-started" in services.hook_events(), "the runner to start")
    report = read_report(work_dir / "runner" / "run.report")
    assert report["jit_sha"] == hashlib.sha256(JIT.encode()).hexdigest()
    assert report["argc"] == "0"
    assert report["token_set"] == ""
    assert report["pod_key_set"] == ""
    assert report["runasroot"] == "1"
    assert services.hook_events()[0] == "download"
    assert services.hook_leaks() == []
    assert leaks_in_cmdlines([JIT.encode(), pod.pod_key.encode()]) == []
    watchdog_env = Path(f"/proc/{result.watchdog_pid}/environ").read_bytes()
    assert JIT.encode() not in watchdog_env
    _secret_free(work_dir, JIT, pod.pod_key)
    assert (work_dir.stat().st_mode & 0o777) == 0o700


def test_token_path_passes_the_token_in_the_environment_not_as_token(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    config = runner_config(services, pod, registration="token", secret=TOKEN)

    result = _bootstrap(pod.target, config)

    runner_dir = pod.work_dir(config.runner_name) / "runner"
    assert (runner_dir / "config.args").read_text().splitlines() == [
        "--unattended",
        "--ephemeral",
        "--disableupdate",
        "--no-default-labels",
        "--url",
        "https://github.com/octo/repo",
        "--name",
        config.runner_name,
        "--labels",
        "rpsa-label,gpu",
        "--runnergroup",
        "gpu-pool",
        "--work",
        "_work",
    ]
    config_report = read_report(runner_dir / "config.report")
    assert config_report["token_sha"] == hashlib.sha256(TOKEN.encode()).hexdigest()
    assert config_report == {**config_report, "pod_key_set": "", "runasroot": "1"}
    wait_until(lambda: "runner-started" in services.hook_events(), "the runner to start")
    assert services.hook_events()[:2] == ["download", "config-called"]
    assert read_report(runner_dir / "run.report")["token_set"] == ""
    assert services.hook_leaks() == []
    assert result.runner_pid is not None
    _secret_free(pod.work_dir(config.runner_name), TOKEN, pod.pod_key)


def test_registration_refused_by_config_sh_is_an_error(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    config = runner_config(services, pod, registration="token", behaviour="refuse", secret=TOKEN)

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "runner-refused"
    assert "NotFound" in str(caught.value)
    assert "administration: write" in str(caught.value)
    assert not (pod.work_dir(config.runner_name) / "runner.pid").exists()


def test_checksum_mismatch_fails_and_starts_no_runner(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    config = dataclasses.replace(runner_config(services, pod, secret=JIT), runner_sha256="0" * 64)

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "checksum-mismatch"
    assert caught.value.code == "BOOTSTRAP_CHECKSUM_MISMATCH"
    assert "0" * 64 in str(caught.value) and JIT not in str(caught.value)
    work_dir = pod.work_dir(config.runner_name)
    assert not (work_dir / "runner.pid").exists()
    assert not (work_dir / "runner" / "run.sh").exists()
    assert not (work_dir / "runner.tar.gz").exists()
    assert "runner-started" not in services.hook_events()


def test_failed_download_is_an_error(pods: PodFactory, services: FakeServices) -> None:
    pod = pods.start()
    config = dataclasses.replace(
        runner_config(services, pod, secret=JIT), runner_url=f"{services.url}/files/missing"
    )

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "download-failed"
    assert "404" in str(caught.value)


def test_watchdog_terminates_the_pod_once_the_runner_has_done_its_job(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    # With a job under way, a one-second idle timeout must not fire.
    config = runner_config(services, pod, behaviour="job", idle_timeout=1, secret=JIT)
    result = _bootstrap(pod.target, config)
    work_dir = Path(result.work_dir)
    wait_until(lambda: "a job started" in _watchdog_log(work_dir), "the watchdog to see the job")
    assert services.terminated() == []

    (work_dir / "runner" / "finish").touch()

    _terminations(services)
    [done] = services.terminated()
    assert done.pod_id == pod.pod_id
    assert done.authorization == f"Bearer {pod.pod_key}"
    assert done.cmdline_leaks == []
    assert "the runner exited" in _watchdog_log(work_dir)
    _secret_free(work_dir, pod.pod_key, ACCOUNT_KEY)


def test_watchdog_terminates_an_idle_pod(pods: PodFactory, services: FakeServices) -> None:
    pod = pods.start()
    config = runner_config(services, pod, behaviour="idle", idle_timeout=2, secret=JIT)

    result = _bootstrap(pod.target, config)

    _terminations(services)
    [done] = services.terminated()
    assert (done.pod_id, done.authorization) == (pod.pod_id, f"Bearer {pod.pod_key}")
    assert "no job started within the idle timeout" in _watchdog_log(Path(result.work_dir))


def test_watchdog_terminates_at_the_maximum_lifetime_despite_a_running_job(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    config = runner_config(services, pod, behaviour="job", lifetime=3, secret=JIT)

    result = _bootstrap(pod.target, config)

    _terminations(services)
    assert services.terminated()[0].authorization == f"Bearer {pod.pod_key}"
    assert "the maximum lifetime has passed" in _watchdog_log(Path(result.work_dir))
    assert result.runner_pid is not None and os.path.exists(f"/proc/{result.runner_pid}")


def test_ssh_mode_watchdog_retries_and_uses_the_rp_environment_key(
    pods: PodFactory, services: FakeServices, tmp_path: Path
) -> None:
    rp_environment = tmp_path / "rp_environment"
    pod = pods.start(env_key=False, extra_env={"RPSA_RP_ENVIRONMENT_FILE": str(rp_environment)})
    rp_environment.write_text(
        f'export RUNPOD_POD_ID="{pod.pod_id}"\nexport RUNPOD_API_KEY="{pod.pod_key}"\n'
        'export PATH="/usr/bin"\n'
    )
    services.graphql_failures = 1
    services.watched_secrets.append(pod.pod_key.encode())
    config = BootstrapConfig(
        mode="ssh",
        pod_id=pod.pod_id,
        runpod_api_url=f"{services.url}/graphql",
        max_lifetime_deadline=int(time.time()) + 2,
        idle_timeout_seconds=1,
        watchdog_interval_seconds=1,
    )

    result = _bootstrap(pod.target, config)

    assert result.runner_pid is None
    assert result.work_dir == str(pod.work_dir(f"pod-{pod.pod_id}"))
    _terminations(services)
    [done] = services.terminated()
    assert done.authorization == f"Bearer {pod.pod_key}"
    assert done.cmdline_leaks == []
    log = _watchdog_log(Path(result.work_dir))
    assert "podTerminate attempt 1 failed: HTTP 500" in log
    assert pod.pod_key not in log


def test_without_a_pod_key_the_bootstrap_refuses(
    pods: PodFactory, services: FakeServices, pod_user: PodUser
) -> None:
    # Unprivileged, so PID 1's environment is out of reach as well.
    pod = pods.start(user=pod_user, env_key=False)
    config = BootstrapConfig(
        mode="ssh",
        pod_id=pod.pod_id,
        runpod_api_url=f"{services.url}/graphql",
        max_lifetime_deadline=int(time.time()) + 3600,
        idle_timeout_seconds=60,
    )

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "no-pod-key"
    assert "watchdog cannot terminate this pod" in str(caught.value)


def test_a_session_of_another_pod_is_refused(pods: PodFactory, services: FakeServices) -> None:
    pod = pods.start()
    config = BootstrapConfig(
        mode="ssh",
        pod_id="someotherpod",
        runpod_api_url=f"{services.url}/graphql",
        max_lifetime_deadline=int(time.time()) + 3600,
        idle_timeout_seconds=60,
    )

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "pod-mismatch"


def test_unprivileged_user_installs_under_its_own_home(
    pods: PodFactory, services: FakeServices, pod_user: PodUser
) -> None:
    pod = pods.start(user=pod_user)
    config = runner_config(services, pod, behaviour="job", secret=JIT)

    result = _bootstrap(pod.target, config)

    work_dir = pod_user.home / "runpod-ssh-action" / config.runner_name
    assert result.work_dir == str(work_dir)
    wait_until(lambda: "runner-started" in services.hook_events(), "the runner to start")
    report = read_report(work_dir / "runner" / "run.report")
    assert report["uid"] == str(os.stat(pod_user.home).st_uid) != "0"
    assert report["runasroot"] == ""
    assert report["jit_sha"] == hashlib.sha256(JIT.encode()).hexdigest()
    assert os.stat(f"/proc/{result.runner_pid}").st_uid == os.stat(pod_user.home).st_uid
    assert services.hook_leaks() == []

    (work_dir / "runner" / "finish").touch()
    _terminations(services)
    assert services.terminated()[0].authorization == f"Bearer {pod.pod_key}"


def test_a_second_bootstrap_keeps_the_watchdog_and_refuses_a_second_runner(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    config = runner_config(services, pod, secret=JIT)
    first = _bootstrap(pod.target, config)

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "already-running"
    assert (Path(first.work_dir) / "watchdog.pid").read_text().strip() == str(first.watchdog_pid)


def test_a_runner_that_stops_before_listening_fails_the_bootstrap_with_its_reason(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    config = runner_config(services, pod, behaviour="crash", secret=JIT)
    with pytest.raises(BootstrapError) as info:
        _bootstrap(pod.target, config)
    assert info.value.reason == "runner-exited"
    assert '"An error occurred' not in info.value.why
    assert '"Not configured. Run config.(sh/cmd) to configure the runner"' in info.value.why
    assert "runner-version" in info.value.fix


def test_the_status_look_quotes_a_runner_github_refused_after_it_listened(
    pods: PodFactory, services: FakeServices
) -> None:
    pod = pods.start()
    idle = runner_config(services, pod, behaviour="idle", secret=JIT)
    _bootstrap(pod.target, idle)
    assert runner_status(pod.target, pod.pod_id, idle.runner_name, timeout=WAIT) is None

    other = pods.start()
    config = runner_config(services, other, behaviour="deprecated", secret=JIT)
    try:
        _bootstrap(other.target, config)
    except BootstrapError as refused:  # the bootstrap may already see it exit
        error: BootstrapError | None = refused
    else:
        wait_until(
            lambda: runner_status(other.target, other.pod_id, config.runner_name, timeout=WAIT),
            "the runner's exit",
        )
        error = runner_status(other.target, other.pod_id, config.runner_name, timeout=WAIT)
    assert error is not None and error.reason == "runner-exited"
    assert "v2.300.0 is deprecated and cannot receive messages" in error.why
    assert error.fix.startswith("Set runner-version to latest")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1][0] not in "ZX"


@pytest.mark.parametrize("registration", ["jit", "token"])
def test_a_runner_user_can_neither_read_the_pod_key_nor_stop_the_watchdog(
    pods: PodFactory, services: FakeServices, runner_user_name: str, registration: str
) -> None:
    pod = pods.start(like_runpod=True)
    assert pod.rp_environment is not None
    config = runner_config(
        services,
        pod,
        behaviour="job",
        registration=registration,
        secret=JIT if registration == "jit" else TOKEN,
        runner_user=runner_user_name,
    )

    result = _bootstrap(pod.target, config)

    user = pwd.getpwnam(runner_user_name)
    runner_dir = Path(user.pw_dir) / "runpod-ssh-action" / config.runner_name / "runner"
    wait_until(lambda: "runner-started" in services.hook_events(), "the runner to start")
    assert read_report(runner_dir / "run.report") == {
        **read_report(runner_dir / "run.report"),
        "uid": str(user.pw_uid),
        "runasroot": "",
        "pod_key_set": "",
    }
    if registration == "token":
        assert read_report(runner_dir / "config.report")["uid"] == str(user.pw_uid)
    assert result.runner_pid is not None
    status = Path(f"/proc/{result.runner_pid}/status").read_text()
    assert f"Uid:\t{user.pw_uid}\t" in status and "NoNewPrivs:\t1" in status
    assert os.stat(f"/proc/{result.watchdog_pid}").st_uid == 0
    runner_env = Path(f"/proc/{result.runner_pid}/environ").read_bytes().split(b"\0")
    assert f"HOME={user.pw_dir}".encode() in runner_env
    assert not [v for v in runner_env if v.startswith(b"RUNPOD_") or pod.pod_key.encode() in v]
    assert pod.rp_environment.stat().st_mode & 0o777 == 0o600

    seen = attack_as(
        user.pw_uid,
        key=pod.pod_key,
        watchdog_pid=result.watchdog_pid,
        places=[pod.rp_environment, Path(result.work_dir), Path(user.pw_dir)],
    )

    assert seen.found == []
    assert seen.kills == {"kill": "EPERM", "killpg": "EPERM"}
    assert _alive(result.watchdog_pid)
    wait_until(lambda: "a job started" in _watchdog_log(Path(result.work_dir)), "the job")
    (runner_dir / "finish").touch()
    _terminations(services)
    assert services.terminated()[0].authorization == f"Bearer {pod.pod_key}"


def test_a_runner_as_root_can_read_the_pod_key_and_kill_the_watchdog(
    pods: PodFactory, services: FakeServices
) -> None:
    """Why runner-user exists: left empty, the runner runs as the login user (root on
    RunPod), and so does its job, which finds the pod key wherever RunPod left it and
    can stop the watchdog. Only the key in the runner's own environment is avoided."""
    pod = pods.start(like_runpod=True)
    config = runner_config(services, pod, secret=JIT)
    result = _bootstrap(pod.target, config)
    assert result.runner_pid is not None
    assert os.stat(f"/proc/{result.runner_pid}").st_uid == 0
    runner_env = Path(f"/proc/{result.runner_pid}/environ").read_bytes()
    assert pod.pod_key.encode() not in runner_env

    seen = attack_as(
        0,
        key=pod.pod_key,
        watchdog_pid=result.watchdog_pid,
        places=[pod.rp_environment or Path("/nonexistent")],
    )

    first = pods.first_processes[-1].pid
    assert {str(pod.rp_environment), f"/proc/{first}/environ"} <= set(seen.found)
    assert seen.kills["kill"] == "sent"
    wait_until(lambda: not _alive(result.watchdog_pid), "the watchdog to die")


def test_a_runner_user_needs_a_root_login(
    pods: PodFactory, services: FakeServices, pod_user: PodUser, runner_user_name: str
) -> None:
    pod = pods.start(user=pod_user)
    config = runner_config(services, pod, secret=JIT, runner_user=runner_user_name)

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "runner-user-needs-root"
    assert caught.value.fix == "Set ssh-user to root, or leave runner-user empty"
    with pytest.raises(KeyError):
        pwd.getpwnam(runner_user_name)
    assert "runner-started" not in services.hook_events()


def test_a_runner_user_with_admin_rights_is_refused(
    pods: PodFactory, services: FakeServices, runner_user_name: str
) -> None:
    subprocess.run(["useradd", "-m", "-G", "sudo", runner_user_name], check=True)
    pod = pods.start()
    config = runner_config(services, pod, secret=JIT, runner_user=runner_user_name)

    with pytest.raises(BootstrapError) as caught:
        _bootstrap(pod.target, config)

    assert caught.value.reason == "runner-user-privileged"
    assert "group sudo" in str(caught.value)
    assert "runner-started" not in services.hook_events()

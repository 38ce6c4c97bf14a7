"""The stand-in runner as a real process against the stand-in GitHub over HTTP(S).

A tiny ThreadingHTTPServer serves ``GitHubSim.handle`` here; the package's own
harness mounts it the same way.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import ssl
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from runpod_ssh_action.sim.github import GitHubSim
from runpod_ssh_action.sim.github_auth import new_app_keypair

OWNER, REPO, PAT = "octo-org", "gpu-ci", "ghp_" + "p" * 36
REPO_RUNNERS = f"/repos/{OWNER}/{REPO}/actions/runners"
CA_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
JIT_ENV = "ACTIONS_RUNNER_INPUT_JITCONFIG"
WAIT = 60.0  # generous: a loaded machine must not fail these


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        parts = urlsplit(self.path)
        sim: GitHubSim = self.server.sim  # type: ignore[attr-defined]
        reply = sim.handle(self.command, parts.path, parse_qs(parts.query), self.headers, body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class StandIn:
    sim: GitHubSim
    base_url: str
    env: dict[str, str]
    runner_dir: Path

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        reply = self.sim.handle(method, path, {}, {"Authorization": f"token {PAT}"}, raw)
        assert reply.status < 300, reply.body
        return json.loads(reply.body) if reply.body else None


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _serve(tmp_path: Path, tls: bool, ca_variable: str | None) -> Iterator[StandIn]:
    address: list[str] = []
    _, public_key = new_app_keypair()
    sim = GitHubSim(
        owner=OWNER,
        repo=REPO,
        app_id=1,
        app_public_key_pem=public_key,
        pat=PAT,
        base_url=lambda: address[0],
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.sim = sim  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items() if k not in CA_ENV and k != JIT_ENV}
    if tls:
        ca = trustme.CA()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        ca_path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        assert ca_variable is not None
        env[ca_variable] = str(ca_path)
    address.append(f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    runner_dir = tmp_path / "actions-runner"
    runner_dir.mkdir()
    with tarfile.open(fileobj=io.BytesIO(sim.runner_tarball[2]), mode="r:gz") as archive:
        archive.extractall(runner_dir, filter="data")
    try:
        yield StandIn(sim, address[0], env, runner_dir)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_stand_in(tmp_path: Path) -> Iterator[StandIn]:
    yield from _serve(tmp_path, tls=False, ca_variable=None)


def start(
    stand_in: StandIn,
    processes: list[subprocess.Popen[bytes]],
    argv: list[str],
    out: Path,
    **env: str,
) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            cwd=stand_in.runner_dir,
            env=stand_in.env | env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    processes.append(process)
    return process


def wait_for(predicate: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def diag_logs(stand_in: StandIn, kind: str) -> list[Path]:
    return sorted((stand_in.runner_dir / "_diag").glob(f"{kind}_*.log"))


def assert_ran_one_job_and_left(
    stand_in: StandIn, process: subprocess.Popen[bytes], label: str, name: str
) -> None:
    sim = stand_in.sim
    assert sim.wait_until(lambda: sim.live_runner_count() == 1, timeout=WAIT)
    assert diag_logs(stand_in, "Worker") == []
    # The background sleep outlives the job holding its output pipe, as orphans do.
    job_id = sim.dispatch_job(
        label,
        'echo "hello from $RUNNER_NAME"\necho "config=${ACTIONS_RUNNER_INPUT_JITCONFIG:-unset}"\n'
        "sleep 300 &\nexit 7\n",
    )
    assert sim.wait_until(lambda: sim.job(job_id)["status"] == "completed", timeout=WAIT)
    job = sim.job(job_id)
    assert job["exit_code"] == 7
    assert job["output"] == f"hello from {name}\nconfig=unset\n"
    assert process.wait(timeout=WAIT) == 0
    assert sim.runners() == []
    (worker,) = diag_logs(stand_in, "Worker")
    assert f"hello from {name}" in worker.read_text()
    assert len(diag_logs(stand_in, "Runner")) == 1


def secrets_absent(texts: list[str], secrets: list[str]) -> bool:
    return not any(secret in text for text in texts for secret in secrets)


@pytest.mark.parametrize(
    ("tls", "ca_variable", "via"),
    [
        (True, "REQUESTS_CA_BUNDLE", "env"),
        (True, "SSL_CERT_FILE", "argument"),
        (True, "CURL_CA_BUNDLE", "env"),
        (False, None, "env"),
    ],
)
def test_jit_runner_takes_one_job_then_leaves(
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    tls: bool,
    ca_variable: str | None,
    via: str,
) -> None:
    for stand_in in _serve(tmp_path, tls, ca_variable):
        data = stand_in.rest(
            "POST",
            f"{REPO_RUNNERS}/generate-jitconfig",
            {"name": "pod-1", "runner_group_id": 1, "labels": ["gpu-7f3a"]},
        )
        encoded = data["encoded_jit_config"]
        secret = json.loads(base64.b64decode(encoded))["secret"]
        out = tmp_path / "run.out"
        if via == "env":
            process = start(stand_in, processes, ["./run.sh"], out, **{JIT_ENV: encoded})
        else:
            process = start(stand_in, processes, ["./run.sh", "--jitconfig", encoded], out)
        assert_ran_one_job_and_left(stand_in, process, "gpu-7f3a", "pod-1")
        printed = out.read_text()
        assert "Listening for Jobs" in printed
        assert "Current runner version: '2.999.0'" in printed
        logs = [path.read_text() for path in (stand_in.runner_dir / "_diag").iterdir()]
        assert secrets_absent([printed, *logs], [encoded, secret])


def test_config_sh_registers_an_ephemeral_runner(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    stand_in = http_stand_in
    token = stand_in.rest("POST", f"{REPO_RUNNERS}/registration-token")["token"]
    argv = [
        "./config.sh",
        "--unattended",
        "--url",
        f"https://github.com/{OWNER}/{REPO}",
        "--name",
        "classic-1",
        "--labels",
        "gpu-7f3a,big",
        "--work",
        "_work",
        "--disableupdate",
    ]
    # The token and a flag through the environment, the way the real runner allows.
    env = {
        "RUNNER_ALLOW_RUNASROOT": "1",
        "ACTIONS_RUNNER_INPUT_TOKEN": token,
        "ACTIONS_RUNNER_INPUT_EPHEMERAL": "true",
    }
    configured = start(stand_in, processes, argv, tmp_path / "config.out", **env)
    assert configured.wait(timeout=WAIT) == 0, (tmp_path / "config.out").read_text()
    printed = (tmp_path / "config.out").read_text()
    assert "√ Settings Saved." in printed
    assert token not in printed
    settings = json.loads((stand_in.runner_dir / ".runner").read_text())
    assert (settings["agentName"], settings["ephemeral"]) == ("classic-1", True)
    assert (stand_in.runner_dir / ".credentials").stat().st_mode & 0o777 == 0o600
    (registration,) = stand_in.sim.registrations
    assert registration["url"] == f"https://github.com/{OWNER}/{REPO}"
    assert registration["disable_update"] is True

    again = start(stand_in, processes, argv, tmp_path / "again.out", **env)
    assert again.wait(timeout=WAIT) == 1
    assert "already configured" in (tmp_path / "again.out").read_text()

    process = start(stand_in, processes, ["./run.sh"], tmp_path / "run.out")
    assert_ran_one_job_and_left(stand_in, process, "big", "classic-1")
    assert not (stand_in.runner_dir / ".runner").exists()
    assert not (stand_in.runner_dir / ".credentials").exists()


def test_config_sh_no_default_labels(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Like the real config.sh: the runner gets self-hosted, Linux and X64 unless told
    --no-default-labels, which it refuses without --labels."""
    stand_in = http_stand_in
    argv = ["./config.sh", "--unattended", "--url", "https://github.com/o/r", "--name"]
    env = {"RUNNER_ALLOW_RUNASROOT": "1"}

    def configure(name: str, *extra: str) -> int:
        token = stand_in.rest("POST", f"{REPO_RUNNERS}/registration-token")["token"]
        (stand_in.runner_dir / ".runner").unlink(missing_ok=True)
        out = tmp_path / f"{name}.out"
        args = [*argv, name, *extra]
        code = start(stand_in, processes, args, out, ACTIONS_RUNNER_INPUT_TOKEN=token, **env)
        return code.wait(timeout=WAIT)

    assert configure("plain", "--labels", "gpu-1") == 0
    assert configure("bare", "--labels", "gpu-2", "--no-default-labels") == 0
    assert configure("nothing", "--no-default-labels") == 1
    assert "without specifying --labels" in (tmp_path / "nothing.out").read_text()
    labels = {r["name"]: [x["name"] for x in r["labels"]] for r in stand_in.sim.runners()}
    assert labels == {"plain": ["self-hosted", "linux", "x64", "gpu-1"], "bare": ["gpu-2"]}


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is for root only")
def test_config_sh_refuses_root_unless_allowed(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    token = http_stand_in.rest("POST", f"{REPO_RUNNERS}/registration-token")["token"]
    argv = ["./config.sh", "--unattended", "--url", "https://github.com/o/r", "--token", token]
    process = start(http_stand_in, processes, argv, tmp_path / "config.out")
    assert process.wait(timeout=WAIT) == 1
    assert (tmp_path / "config.out").read_text() == "Must not run with sudo\n"
    assert http_stand_in.sim.runners() == []


def test_config_sh_remove(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    stand_in = http_stand_in
    token = stand_in.rest("POST", f"{REPO_RUNNERS}/registration-token")["token"]
    argv = ["./config.sh", "--unattended", "--url", "https://github.com/o/r", "--token", token]
    out = tmp_path / "config.out"
    assert start(stand_in, processes, argv, out, RUNNER_ALLOW_RUNASROOT="1").wait(WAIT) == 0
    assert [r["ephemeral"] for r in stand_in.sim.runners()] == [False]
    remove_token = stand_in.rest("POST", f"{REPO_RUNNERS}/remove-token")["token"]
    argv = ["./config.sh", "remove", "--token", remove_token]
    out = tmp_path / "remove.out"
    assert start(stand_in, processes, argv, out, RUNNER_ALLOW_RUNASROOT="1").wait(WAIT) == 0
    assert "√ Runner removed successfully" in out.read_text()
    assert stand_in.sim.runners() == []
    assert not (stand_in.runner_dir / ".runner").exists()


def _start_jit_runner(
    tmp_path: Path, stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> tuple[dict[str, Any], subprocess.Popen[bytes]]:
    data = stand_in.rest(
        "POST",
        f"{REPO_RUNNERS}/generate-jitconfig",
        {"name": "pod-2", "runner_group_id": 1, "labels": ["gpu-x"]},
    )
    process = start(
        stand_in,
        processes,
        ["./run.sh"],
        tmp_path / "run.out",
        **{JIT_ENV: data["encoded_jit_config"]},
    )
    sim = stand_in.sim
    assert sim.wait_until(lambda: sim.live_runner_count() == 1, timeout=WAIT)
    return data["runner"], process


def test_runner_exits_when_its_registration_is_deleted(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    runner, process = _start_jit_runner(tmp_path, http_stand_in, processes)
    http_stand_in.rest("DELETE", f"{REPO_RUNNERS}/{runner['id']}")
    # run.sh ends a terminated listener with status 0 (run-helper.sh.template).
    assert process.wait(timeout=WAIT) == 0
    assert "registration has been deleted" in (tmp_path / "run.out").read_text()


def test_sigterm_ends_the_session(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    _, process = _start_jit_runner(tmp_path, http_stand_in, processes)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=WAIT) == 0
    assert "Exiting..." in (tmp_path / "run.out").read_text()
    assert [r["status"] for r in http_stand_in.sim.runners()] == ["offline"]


def test_sigterm_cancels_a_running_job(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    _, process = _start_jit_runner(tmp_path, http_stand_in, processes)
    sim = http_stand_in.sim
    job_id = sim.dispatch_job("gpu-x", "echo started\nsleep 300\n")
    assert wait_for(
        lambda: any("started" in log.read_text() for log in diag_logs(http_stand_in, "Worker"))
    )
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=WAIT) == 0
    job = sim.job(job_id)
    assert (job["status"], job["exit_code"], job["output"]) == ("completed", 143, "started\n")
    assert "completed with result: Canceled" in (tmp_path / "run.out").read_text()
    # Ephemeral: the job was its one job, so the registration is gone.
    assert sim.runners() == []


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["./run.sh"], {}, "Not configured"),
        (["./run.sh", "--jitconfig", "bm90LWpzb24="], {}, "could not be read"),
        (["./run.sh"], {JIT_ENV: "%%%"}, "could not be read"),
    ],
)
def test_run_sh_refuses_without_a_usable_configuration(
    tmp_path: Path,
    http_stand_in: StandIn,
    processes: list[subprocess.Popen[bytes]],
    *,
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    out = tmp_path / "run.out"
    assert start(http_stand_in, processes, argv, out, **env).wait(timeout=WAIT) == 0
    printed = out.read_text()
    assert message in printed
    assert "bm90LWpzb24=" not in printed


def test_runner_waits_out_a_session_it_lost_track_of(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A connect whose answer was lost leaves a session behind; it lapses, then the runner is in."""
    data = http_stand_in.rest(
        "POST",
        f"{REPO_RUNNERS}/generate-jitconfig",
        {"name": "pod-3", "runner_group_id": 1, "labels": ["gpu-x"]},
    )
    config = json.loads(base64.b64decode(data["encoded_jit_config"]))
    path = f"/_sim/runner/{config['runner_id']}/connect"
    lost = http_stand_in.sim.handle(
        "POST", path, {}, {"Authorization": f"Bearer {config['secret']}"}, b""
    )
    assert lost.status == 204
    out = tmp_path / "run.out"
    process = start(
        http_stand_in, processes, ["./run.sh"], out, **{JIT_ENV: data["encoded_jit_config"]}
    )
    assert wait_for(lambda: "Listening for Jobs" in out.read_text())
    assert process.poll() is None
    assert (tmp_path / "run.out").read_text().count("√ Connected to GitHub") == 1


def test_an_expired_runner_version_is_refused_after_listening(
    tmp_path: Path, http_stand_in: StandIn, processes: list[subprocess.Popen[bytes]]
) -> None:
    """As actions/runner #3266 shows: session, "Listening for Jobs", then the refusal at
    the first message poll, and run.sh still exits 0."""
    http_stand_in.sim.set_min_runner_version("3.0.0")
    data = http_stand_in.rest(
        "POST",
        f"{REPO_RUNNERS}/generate-jitconfig",
        {"name": "old-1", "runner_group_id": 1, "labels": ["x"]},
    )
    out = tmp_path / "run.out"
    process = start(
        http_stand_in, processes, ["./run.sh"], out, **{JIT_ENV: data["encoded_jit_config"]}
    )
    assert process.wait(timeout=WAIT) == 0
    lines = out.read_text().splitlines()
    listening = next(i for i, line in enumerate(lines) if line.endswith("Listening for Jobs"))
    assert lines[listening + 1 :] == [
        "An error occurred: Runner version v2.999.0 is deprecated and cannot receive messages.",
        "Runner listener exit with terminated error, stop the service, no retry needed.",
        "Exiting runner...",
    ]
    assert [r["status"] for r in http_stand_in.sim.runners()] == ["offline"]

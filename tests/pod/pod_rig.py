"""The pod rig: OpenSSH's sshd as the pod, a fake runner release and a fake RunPod.

sshd emulates what RunPod gives a session (``RUNPOD_POD_ID`` and a pod-scoped
``RUNPOD_API_KEY`` through ``SetEnv``) and logs in root or a throw-away unprivileged
user. A stdlib HTTP server plays the runner download, the GraphQL endpoint (it
records every ``podTerminate`` with its Authorization header) and a "hook" the fake
runner scripts call. While a pod-side process waits on that server, the handler
scans every process's command line for the secrets under test, so "never on a
command line" is checked at the exact moments a leak would show.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from runpod_ssh_action import ssh
from runpod_ssh_action.bootstrap import BootstrapConfig
from runpod_ssh_action.clock import SystemClock

SSHD = Path("/usr/sbin/sshd")
POLL = 0.1
# Generous: these wait on real processes on a possibly busy machine.
WAIT = 60.0


def wait_until(predicate: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    ends = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > ends:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL)


class PortTakenError(Exception):
    """sshd could not bind its port: another process took it first."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cmdlines() -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found[int(entry.name)] = (entry / "cmdline").read_bytes()
    return found


def leaks_in_cmdlines(values: list[bytes]) -> list[str]:
    return [
        f"pid {pid}: {cmd[:80]!r}"
        for pid, cmd in process_cmdlines().items()
        if any(v in cmd for v in values)
    ]


# --- fake services -------------------------------------------------------------------


@dataclass
class Termination:
    pod_id: str
    authorization: str
    cmdline_leaks: list[str]


@dataclass
class FakeServices:
    """The runner download, RunPod's GraphQL endpoint and the fake runner's hook."""

    files: dict[str, bytes] = field(default_factory=dict)
    watched_secrets: list[bytes] = field(default_factory=list)
    terminations: list[Termination] = field(default_factory=list)
    hooks: list[tuple[str, list[str]]] = field(default_factory=list)
    graphql_failures: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook_events(self) -> list[str]:
        with self.lock:
            return [name for name, _ in self.hooks]

    def hook_leaks(self) -> list[str]:
        with self.lock:
            return [leak for _, leaks in self.hooks for leak in leaks]

    def terminated(self) -> list[Termination]:
        with self.lock:
            return list(self.terminations)


def handler(services: FakeServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/files/"):
                data = services.files.get(path.removeprefix("/files/"))
                if data is None:
                    self._send(404, b"not found", "text/plain")
                else:
                    leaks = leaks_in_cmdlines(services.watched_secrets)
                    with services.lock:
                        services.hooks.append(("download", leaks))
                    self._send(200, data, "application/gzip")
                return
            if path.startswith("/hook/"):
                leaks = leaks_in_cmdlines(services.watched_secrets)
                with services.lock:
                    services.hooks.append((path.removeprefix("/hook/"), leaks))
                self._send(200, b"ok", "text/plain")
                return
            self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            query = str(body.get("query", ""))
            match = re.fullmatch(
                r'\s*mutation\s*\{\s*podTerminate\(input:\s*\{podId:\s*"([^"]+)"\}\)\s*\}\s*',
                query,
            )
            if urlsplit(self.path).path != "/graphql" or match is None:
                self._send(400, b'{"errors":[{"message":"unexpected query"}]}')
                return
            with services.lock:
                fail = services.graphql_failures > 0
                services.graphql_failures -= 1
            if fail:
                self._send(500, b'{"errors":[{"message":"Something went wrong."}]}')
                return
            leaks = leaks_in_cmdlines(services.watched_secrets)
            with services.lock:
                services.terminations.append(
                    Termination(match.group(1), self.headers.get("Authorization", ""), leaks)
                )
            self._send(200, b'{"data":{"podTerminate":null}}')

    return Handler


# --- a job that turns on its pod -----------------------------------------------------

# Reads every process's environment and command line and every file under the given
# places, looking for the pod key (given on stdin, so it is on no command line), then
# tries to kill the watchdog and its process group.
_ATTACK = r"""
import errno, json, os, signal, sys
key = sys.stdin.buffer.read()
args = json.loads(sys.argv[1])
found = []
def look(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return
    if key in data:
        found.append(path)
for entry in os.listdir("/proc"):
    if entry.isdigit():
        look(f"/proc/{entry}/environ")
        look(f"/proc/{entry}/cmdline")
for place in args["places"]:
    look(place)
    for root, _, names in os.walk(place):
        for name in names:
            look(os.path.join(root, name))
kills = {}
for how, call in (("kill", os.kill), ("killpg", os.killpg)):
    try:
        call(args["watchdog"], signal.SIGKILL)
        kills[how] = "sent"
    except OSError as exc:
        kills[how] = errno.errorcode[exc.errno]
print(json.dumps({"found": sorted(set(found)), "kills": kills}))
"""


@dataclass
class Attack:
    found: list[str]
    kills: dict[str, str]


def attack_as(uid: int, *, key: str, watchdog_pid: int, places: list[Path]) -> Attack:
    """What a job running as ``uid`` (the runner's user) can do to its pod: where it
    finds ``key``, and how its signals to the watchdog fare."""
    user = pwd.getpwuid(uid)
    done = subprocess.run(
        [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={user.pw_gid}",
            "--init-groups",
            "/usr/bin/python3",
            "-c",
            _ATTACK,
            json.dumps({"watchdog": watchdog_pid, "places": [str(p) for p in places]}),
        ],
        input=key.encode(),
        capture_output=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        check=True,
        timeout=WAIT,
    )
    return Attack(**json.loads(done.stdout))


# --- a fake runner release -----------------------------------------------------------

_RUN_SH = r"""#!/usr/bin/env bash
# Fake actions/runner run.sh: reports what it was given, then acts per ./behaviour.
set -u
cd "$(dirname "$0")"
sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }
{
  echo "jit_sha=$(sha "${ACTIONS_RUNNER_INPUT_JITCONFIG:-}")"
  echo "token_set=${ACTIONS_RUNNER_INPUT_TOKEN+yes}"
  echo "pod_key_set=${RUNPOD_API_KEY+yes}"
  echo "runasroot=${RUNNER_ALLOW_RUNASROOT:-}"
  echo "uid=$(id -u)"
  echo "argc=$#"
} >run.report.tmp
mv run.report.tmp run.report
curl -fsS "@HOOK@/hook/runner-started" >/dev/null
mkdir -p _diag
# The real runner's words (actions/runner Program.cs, Runner.cs, run-helper.sh.template).
if [ "$(cat behaviour)" = crash ]; then
  echo "An error occurred: Not configured. Run config.(sh/cmd) to configure the runner."
  echo "Runner listener exit with terminated error, stop the service, no retry needed."
  exit 0
fi
echo "Current runner version: '2.300.0'"
echo "$(date -u '+%Y-%m-%d %H:%M:%SZ'): Listening for Jobs"
if [ "$(cat behaviour)" = deprecated ]; then
  echo "An error occured: Runner version v2.300.0 is deprecated and cannot receive messages."
  echo "Runner listener exit with terminated error, stop the service, no retry needed."
  exit 0
fi
if [ "$(cat behaviour)" = job ]; then
  : >_diag/Worker_20260101-000000-utc.log
fi
until [ -e finish ]; do sleep 0.2; done
"""

_CONFIG_SH = r"""#!/usr/bin/env bash
# Fake actions/runner config.sh: records its arguments and what reached it.
set -u
cd "$(dirname "$0")"
sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }
printf '%s\n' "$@" >config.args
{
  echo "token_sha=$(sha "${ACTIONS_RUNNER_INPUT_TOKEN:-}")"
  echo "pod_key_set=${RUNPOD_API_KEY+yes}"
  echo "runasroot=${RUNNER_ALLOW_RUNASROOT:-}"
  echo "uid=$(id -u)"
} >config.report
curl -fsS "@HOOK@/hook/config-called" >/dev/null
if [ "$(cat behaviour)" = refuse ]; then
  echo "Http response code: NotFound from 'POST https://api.github.com/actions/runner-registration'"
  exit 1
fi
"""


def runner_tarball(hook_url: str, behaviour: str) -> bytes:
    """``behaviour``: ``idle`` (never takes a job), ``job`` (a job starts at once),
    ``refuse`` (config.sh fails), ``crash`` (run.sh stops before it listens) or
    ``deprecated`` (run.sh listens, then GitHub refuses its version); run.sh exits once
    a ``finish`` file appears."""
    members = {
        "run.sh": (_RUN_SH.replace("@HOOK@", hook_url).encode(), 0o755),
        "config.sh": (_CONFIG_SH.replace("@HOOK@", hook_url).encode(), 0o755),
        "behaviour": (behaviour.encode(), 0o644),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


# --- sshd ------------------------------------------------------------------------------


@dataclass
class Sshd:
    port: int
    host_public_key: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class PodUser:
    name: str
    home: Path


class SshdFactory:
    """Starts sshd instances that accept ``client_public_key`` for root and the
    throw-away user; ``env`` goes into every session, as RunPod's does."""

    def __init__(self, workdir: Path, keys_dir: Path, client_public_key: str):
        self.workdir = workdir
        self.keys_dir = keys_dir
        self.client_public_key = client_public_key
        self.started: list[Sshd] = []

    def authorize(self, user: str) -> None:
        path = self.keys_dir / user
        path.write_text(self.client_public_key + "\n")
        path.chmod(0o644)

    def new_host_key(self) -> Path:
        path = self.workdir / f"host_key_{secrets.token_hex(4)}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
        return path

    def start(
        self, env: dict[str, str], *, port: int | None = None, host_key: Path | None = None
    ) -> Sshd:
        host_key = host_key or self.new_host_key()
        # A free port can be taken by another test worker before sshd binds it: then
        # sshd exits saying so, and another port is tried (a port asked for is kept).
        for _ in range(1 if port else 5):
            try:
                return self._start(env, port or free_port(), host_key)
            except PortTakenError:
                continue
        raise AssertionError("sshd found no free port in five tries")

    def _start(self, env: dict[str, str], port: int, host_key: Path) -> Sshd:
        tag = f"{port}-{secrets.token_hex(3)}"
        config = self.workdir / f"sshd_{tag}.conf"
        set_env = " ".join(f'"{k}={v}"' for k, v in env.items())
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {self.workdir / f'sshd_{tag}.pid'}",
            f"AuthorizedKeysFile {self.keys_dir}/%u",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            # Would let a client's own RUNPOD_* variables in: the client must send none.
            "AcceptEnv RUNPOD_*",
        ]
        if env:
            lines.append(f"SetEnv {set_env}")
        config.write_text("\n".join(lines) + "\n")
        log = self.workdir / f"sshd_{tag}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        server = Sshd(port, Path(f"{host_key}.pub").read_text().split()[1], process, log)
        self.started.append(server)

        def listening() -> bool:
            # sshd -e says so once it has bound the port: a connect could reach another
            # worker's server on the same port.
            said = log.read_text(errors="replace")
            if process.poll() is not None:
                if "Address already in use" in said:
                    raise PortTakenError(said)
                raise AssertionError(f"sshd exited: {said}")
            return f"Server listening on 127.0.0.1 port {port}" in said

        wait_until(listening, "sshd to listen")
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


def make_target(
    server: Sshd, key_path: Path, known_hosts: Path, user: str = "root"
) -> ssh.SshTarget:
    return ssh.SshTarget("127.0.0.1", server.port, user, key_path, known_hosts)


# --- a pod: sshd + recorded host key + clean-up of what ran on it ---------------------


@dataclass
class Pod:
    pod_id: str
    pod_key: str
    home: Path
    target: ssh.SshTarget
    server: Sshd
    rp_environment: Path | None = None

    def work_dir(self, name: str) -> Path:
        return self.home / "runpod-ssh-action" / name


def kill_detached(home: Path) -> None:
    """End what the bootstrap left running under ``home``: each was started in its
    own session, so its pid is also its process group."""
    for pidfile in home.glob("runpod-ssh-action/*/*.pid"):
        with contextlib.suppress(ValueError, OSError):
            os.killpg(int(pidfile.read_text().strip()), signal.SIGKILL)


class PodFactory:
    def __init__(self, factory: SshdFactory, tmp_path: Path, key_path: Path):
        self.factory = factory
        self.tmp_path = tmp_path
        self.key_path = key_path
        self.homes: list[Path] = []
        self.first_processes: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        *,
        user: PodUser | None = None,
        env_key: bool = True,
        extra_env: dict[str, str] | None = None,
        like_runpod: bool = False,
    ) -> Pod:
        """``like_runpod`` also puts the pod key where RunPod's own processes leave it
        (see ``_leave_key_like_runpod``)."""
        pod_id = f"pod{secrets.token_hex(4)}"
        pod_key = f"rpa_POD{secrets.token_hex(12)}"
        rp_environment = self._leave_key_like_runpod(pod_id, pod_key) if like_runpod else None
        if rp_environment is not None:
            extra_env = {**(extra_env or {}), "RPSA_RP_ENVIRONMENT_FILE": str(rp_environment)}
        env = {"RUNPOD_POD_ID": pod_id} if env_key else {}
        if env_key:
            env["RUNPOD_API_KEY"] = pod_key
        if user is None:
            # Root's real home stays untouched: each pod gets a home of its own.
            home = self.tmp_path / f"home-{pod_id}"
            home.mkdir()
            env["HOME"] = str(home)
        else:
            self.factory.authorize(user.name)
            home = user.home
        env.update(extra_env or {})
        server = self.factory.start(env)
        self.homes.append(home)
        target = make_target(
            server,
            self.key_path,
            self.tmp_path / f"known_hosts-{pod_id}",
            user.name if user else "root",
        )
        ssh.wait_for_login(target, clock=SystemClock(), deadline=time.monotonic() + WAIT)
        return Pod(pod_id, pod_key, home, target, server, rp_environment)

    def _leave_key_like_runpod(self, pod_id: str, pod_key: str) -> Path:
        """A root process holding the key in its environment, as the container's first
        process and what RunPod's start script starts do, and /etc/rp_environment as
        that script writes it, with the default umask (runpod/containers
        container-template/start.sh, export_env_vars). Returns the file."""
        first = subprocess.Popen(
            ["sleep", "infinity"],
            env={"RUNPOD_POD_ID": pod_id, "RUNPOD_API_KEY": pod_key},
            start_new_session=True,
        )
        self.first_processes.append(first)
        path = Path(tempfile.mkdtemp(dir=self.factory.keys_dir.parent)) / "rp_environment"
        path.parent.chmod(0o755)
        path.write_text(f'export RUNPOD_POD_ID="{pod_id}"\nexport RUNPOD_API_KEY="{pod_key}"\n')
        path.chmod(0o644)
        return path

    def cleanup(self) -> None:
        for home in self.homes:
            kill_detached(home)
        for first in self.first_processes:
            first.kill()
            first.wait()


def runner_config(
    services: FakeServices,
    pod: Pod,
    *,
    behaviour: str = "idle",
    registration: str = "jit",
    idle_timeout: int = 3600,
    lifetime: int = 3600,
    secret: str = "",
    runner_user: str = "",
) -> BootstrapConfig:
    """A runner-mode config whose tarball is served by ``services``; the JIT config or
    registration token is ``secret`` (watched for on command lines)."""
    tarball = runner_tarball(services.url, behaviour)
    name = f"runner-{pod.pod_id}"
    services.files[f"{name}.tar.gz"] = tarball
    services.watched_secrets += [v.encode() for v in (secret, pod.pod_key) if v]
    return BootstrapConfig(
        mode="runner",
        pod_id=pod.pod_id,
        runpod_api_url=f"{services.url}/graphql",
        max_lifetime_deadline=int(time.time()) + lifetime,
        idle_timeout_seconds=idle_timeout,
        runner_name=name,
        runner_labels=("rpsa-label", "gpu"),
        runner_url=f"{services.url}/files/{name}.tar.gz",
        runner_sha256=hashlib.sha256(tarball).hexdigest(),
        registration="jit" if registration == "jit" else "token",
        jit_config=secret if registration == "jit" else "",
        registration_token=secret if registration == "token" else "",
        github_url="https://github.com/octo/repo",
        runner_group="gpu-pool" if registration == "token" else "",
        runner_user=runner_user,
        watchdog_interval_seconds=1,
    )


def read_report(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)

#!/usr/bin/env python3
"""Stand-in for actions/runner's Runner.Listener, talking to the stand-in GitHub.

``configure`` (behind config.sh) registers with a registration token and writes
``.runner`` and ``.credentials``; ``run`` (behind run.sh) opens a session, heart-beats,
long-polls for a job, runs it with bash and reports the result. An ephemeral runner
(JIT config or ``--ephemeral``) exits 0 after its one job, as the real one does.

It never prints or logs a token, its secret or the JIT config. Standard library only,
so it runs on whatever python3 the host has.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DIAG = ROOT / "_diag"
RUNNER_FILE = ROOT / ".runner"
CREDENTIALS_FILE = ROOT / ".credentials"
INPUT_ENV_PREFIX = "ACTIONS_RUNNER_INPUT_"
JIT_ENV = INPUT_ENV_PREFIX + "JITCONFIG"
# Registration tokens are 29 characters like GitHub's, then the stand-in's address in
# base32 (the github.com URL config.sh is given cannot lead here).
TOKEN_PREFIX = 29
HEARTBEAT_EVERY = 1.0
POLL_WAIT = 5.0
# The real runner retries for a long time; the stand-in's runner gives up sooner so a
# test that stopped its server does not leave a process spinning.
GIVE_UP_AFTER = 60.0
MAX_OUTPUT = 1 << 20
CA_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# timezone.utc rather than datetime.UTC: the host's python3 may predate 3.11.
UTC = timezone.utc  # noqa: UP017


class Stop(Exception):  # noqa: N818 -- a signal to wind down, not a failure
    """SIGINT or SIGTERM arrived."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop()


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


class Log:
    """A ``_diag/<kind>_<UTC time>.log`` file, created at once, like the real runner's."""

    def __init__(self, kind: str):
        DIAG.mkdir(parents=True, exist_ok=True)
        self.path = DIAG / f"{kind}_{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-utc.log"
        self._kind = kind
        self._lock = threading.Lock()
        self.write(f"{kind} started")

    def write(self, message: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"[{utc_stamp()} INFO {self._kind}] {message}\n")

    def say(self, message: str) -> None:
        print(message, flush=True)
        self.write(message)


class Server:
    """JSON over HTTP(S) to the stand-in, trusting the CA named in the environment."""

    def __init__(self, base_url: str, authorization: str):
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("the stand-in's address is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self._authorization = authorization
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if base_url.startswith("https://"):
            handlers.append(urllib.request.HTTPSHandler(context=tls_context()))
        self._opener = urllib.request.build_opener(*handlers)

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 -- scheme checked in __init__
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "authorization": self._authorization,
                "content-type": "application/json",
                "accept": "application/json",
            },
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, (json.loads(raw) if raw else None)

    def call_retrying(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0
    ) -> tuple[int, Any]:
        """Like ``call``, riding out network errors and 5xx/429 answers for a while."""
        started = time.monotonic()
        delay = 0.5
        while True:
            try:
                status, payload = self.call(method, path, body, timeout)
                if status < 500 and status != 429:
                    return status, payload
                problem = f"HTTP {status}"
            except (OSError, ValueError) as error:
                problem = type(error).__name__
            if time.monotonic() - started > GIVE_UP_AFTER:
                raise ConnectionError(f"the stand-in GitHub kept failing ({problem})")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def tls_context() -> ssl.SSLContext:
    for name in CA_ENV:
        path = os.environ.get(name)
        if path:
            return ssl.create_default_context(cafile=path)
    return ssl.create_default_context()


@dataclass
class Settings:
    runner_id: int
    name: str
    secret: str
    base_url: str
    work_folder: str
    ephemeral: bool
    from_files: bool


def settings_from_jit(encoded: str) -> Settings | None:
    try:
        config = json.loads(base64.b64decode(encoded, validate=True))
        return Settings(
            runner_id=int(config["runner_id"]),
            name=str(config["runner_name"]),
            secret=str(config["secret"]),
            base_url=str(config["base_url"]),
            work_folder=str(config.get("work_folder") or "_work"),
            ephemeral=True,
            from_files=False,
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


def settings_from_files() -> Settings | None:
    try:
        runner = json.loads(RUNNER_FILE.read_text(encoding="utf-8"))
        credentials = json.loads(CREDENTIALS_FILE.read_text(encoding="utf-8"))
        return Settings(
            runner_id=int(runner["agentId"]),
            name=str(runner["agentName"]),
            secret=str(credentials["data"]["secret"]),
            base_url=str(runner["serverUrl"]),
            work_folder=str(runner.get("workFolder") or "_work"),
            ephemeral=bool(runner.get("ephemeral")),
            from_files=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_configuration() -> None:
    for path in (CREDENTIALS_FILE, RUNNER_FILE):
        path.unlink(missing_ok=True)


# --- run.sh ----------------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.sh")
    parser.add_argument("--jitconfig")
    parser.add_argument("--once", action="store_true")
    args, _ = parser.parse_known_args(argv)
    encoded = args.jitconfig or os.environ.get(JIT_ENV)
    # Jobs inherit this environment; the config is a credential.
    os.environ.pop(JIT_ENV, None)
    if encoded:
        settings = settings_from_jit(encoded)
        if settings is None:
            print("An error occurred: the JIT configuration could not be read.", flush=True)
            return 1
    else:
        settings = settings_from_files()
        if settings is None:
            print(
                "An error occurred: Not configured. Run config.(sh/cmd) to configure the runner.",
                flush=True,
            )
            return 1
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    return Session(settings, Log("Runner")).run()


class Session:
    def __init__(self, settings: Settings, log: Log):
        self.settings = settings
        self.log = log
        self.server = Server(settings.base_url, f"Bearer {settings.secret}")
        self.prefix = f"/_sim/runner/{settings.runner_id}"
        self.deleted = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> int:
        heartbeat = threading.Thread(target=self._heartbeat, daemon=True)
        try:
            status = self._connect()
            if status == 404:
                return self._deleted()
            if status == 409:
                self.log.say("A session for this runner already exists.")
                return 1
            if status >= 300:
                self.log.say(f"Failed to create a session (HTTP {status}).")
                return 1
            self.log.say("√ Connected to GitHub")
            self.log.say(f"Current runner version: '{runner_version()}'")
            self.log.say(f"{utc_stamp()}: Listening for Jobs")
            heartbeat.start()
            return self._listen()
        except Stop:
            self.log.say("Exiting...")
            self._disconnect()
            return 0
        except ConnectionError as error:
            self.log.say(f"An error occurred: {error}")
            return 1
        finally:
            self.stopping.set()

    def _connect(self) -> int:
        """Open the session; wait out a session that looks live but is not.

        When the answer to a connect is lost, the retry finds the session it opened
        itself; that one lapses after a few seconds without heartbeats.
        """
        started = time.monotonic()
        while True:
            status, _ = self.server.call_retrying("POST", self.prefix + "/connect")
            if status != 409 or time.monotonic() - started > GIVE_UP_AFTER:
                return int(status)
            self.log.write("A session for this runner already exists; retrying")
            time.sleep(1)

    def _listen(self) -> int:
        while True:
            if self.deleted.is_set():
                return self._deleted()
            # Like the real listener, each poll says which version asks: GitHub refuses
            # an expired one here, after "Listening for Jobs" (BrokerHttpClient.cs).
            status, payload = self.server.call_retrying(
                "GET",
                f"{self.prefix}/job?wait={POLL_WAIT}&runnerVersion={runner_version()}",
                timeout=POLL_WAIT + 30,
            )
            if status in (401, 404):
                return self._deleted()
            if status == 403:
                message = payload.get("message") if isinstance(payload, dict) else None
                self.log.say(f"An error occurred: {message or 'Forbidden'}")
                self._disconnect()
                return 1
            if status == 200 and isinstance(payload, dict):
                self._run_job(payload)
                if self.settings.ephemeral:
                    if self.settings.from_files:
                        forget_configuration()
                    return 0
            elif status != 204:
                self.log.write(f"Polling for a job failed with HTTP {status}")
                time.sleep(1)

    def _deleted(self) -> int:
        self.log.say(
            "Failed to create a session. The runner registration has been deleted from the "
            "server, please re-configure."
        )
        return 1

    def _heartbeat(self) -> None:
        while not self.stopping.wait(HEARTBEAT_EVERY):
            try:
                status, _ = self.server.call("POST", self.prefix + "/heartbeat", timeout=10)
            except (OSError, ValueError) as error:
                self.log.write(f"Heartbeat failed: {type(error).__name__}")
                continue
            if status == 404:
                self.deleted.set()

    def _disconnect(self) -> None:
        try:
            self.server.call("POST", self.prefix + "/disconnect", timeout=5)
        except (OSError, ValueError) as error:
            self.log.write(f"Could not close the session: {type(error).__name__}")

    def _run_job(self, job: dict[str, Any]) -> None:
        job_id = str(job["job_id"])
        worker = Log("Worker")
        worker.write(f"Job {job_id} received")
        work = ROOT / self.settings.work_folder
        temp = work / "_temp"
        temp.mkdir(parents=True, exist_ok=True)
        script = temp / f"{job_id}.sh"
        script.write_text(str(job["script"]), encoding="utf-8")
        script.chmod(0o700)
        env = dict(os.environ)
        env.update(
            RUNNER_NAME=self.settings.name,
            RUNNER_TEMP=str(temp),
            RUNNER_WORKSPACE=str(work),
            RUNNER_OS="Linux",
            RUNNER_ARCH="X64",
            GITHUB_ACTIONS="true",
            CI="true",
        )
        self.log.say(f"{utc_stamp()}: Running job: {job_id}")
        output = bytearray()
        stopped = False
        with subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as process:
            stream = process.stdout
            assert stream is not None

            def collect() -> None:
                for line in stream:
                    worker.write(line.decode("utf-8", "replace").rstrip("\n"))
                    output.extend(line)
                    del output[:-MAX_OUTPUT]

            reader = threading.Thread(target=collect, daemon=True)
            try:
                # Inside the try: a stop can land while start() waits for the reader
                # thread, and must still end the job rather than leave it running.
                reader.start()
                code = process.wait()
            except Stop:
                stopped = True
                kill_group(process.pid, signal.SIGTERM)
                code = process.wait()
            # The real runner ends a job's orphans too; one left holding the output
            # pipe would otherwise keep the job from ever finishing.
            kill_group(process.pid, signal.SIGKILL)
            reader.join()
        if code < 0:  # killed by a signal: report it the way a shell would
            code = 128 - code
        result = "Succeeded" if code == 0 else ("Canceled" if stopped else "Failed")
        worker.write(f"Job {job_id} completed with exit code {code}")
        status, _ = self.server.call_retrying(
            "POST",
            f"{self.prefix}/jobs/{job_id}/result",
            {"exit_code": code, "output": output.decode("utf-8", "replace")},
        )
        if status >= 300:
            self.log.write(f"Reporting the result of {job_id} failed with HTTP {status}")
        self.log.say(f"{utc_stamp()}: Job {job_id} completed with result: {result}")
        if stopped:
            raise Stop()


def kill_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return


def runner_version() -> str:
    try:
        return (ROOT / "bin" / "runner.version").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"


# --- config.sh -------------------------------------------------------------------------


def address_from_token(token: str) -> str | None:
    encoded = token[TOKEN_PREFIX:]
    if not encoded:
        return None
    try:
        address = base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()
    except (ValueError, binascii.Error):
        return None
    return address if address.startswith(("https://", "http://")) else None


def parse_inputs(
    prog: str, argv: list[str], options: tuple[str, ...], flags: tuple[str, ...]
) -> tuple[argparse.Namespace, list[str]]:
    """Parse like the real runner: each argument may also come from the environment.

    ``--token T`` can be ``ACTIONS_RUNNER_INPUT_TOKEN=T`` (which keeps it off the
    command line) and a flag ``ACTIONS_RUNNER_INPUT_EPHEMERAL=true``.
    """
    parser = argparse.ArgumentParser(prog=prog)
    for flag in flags:
        parser.add_argument(f"--{flag}", action="store_true")
    for option in options:
        parser.add_argument(f"--{option}")
    args, unknown = parser.parse_known_args(argv)
    for name in options + flags:
        key = name.replace("-", "_")
        value = os.environ.get(f"{INPUT_ENV_PREFIX}{key.upper()}")
        if value and not getattr(args, key):
            setattr(args, key, value.strip().lower() == "true" if name in flags else value)
    return args, unknown


def configure(argv: list[str]) -> int:
    if argv[:1] == ["remove"]:
        return remove(argv[1:])
    args, unknown = parse_inputs(
        "config.sh",
        argv,
        options=("url", "token", "name", "labels", "runnergroup", "work"),
        flags=("unattended", "ephemeral", "disableupdate", "replace", "no-default-labels"),
    )
    # Only option names: a stray value could be a credential.
    ignored = [word for word in unknown if word.startswith("-")]
    if ignored:
        print(f"Unrecognized command-line input arguments: {', '.join(ignored)}", flush=True)
    if RUNNER_FILE.exists():
        print(
            "Cannot configure the runner because it is already configured. To reconfigure "
            "the runner, run 'config.cmd remove' or './config.sh remove' first.",
            flush=True,
        )
        return 1
    for name in ("url", "token"):
        if not getattr(args, name):
            print(
                f"Invalid configuration provided for {name}. Terminating unattended configuration.",
                flush=True,
            )
            return 1
    base_url = address_from_token(args.token)
    if base_url is None:
        print("The registration token is not valid: get a new one and try again.", flush=True)
        return 1
    name = args.name or socket.gethostname()
    labels = [label.strip() for label in (args.labels or "").split(",") if label.strip()]
    if args.no_default_labels and not labels:
        # As CreateNewAgent in actions/runner's ConfigurationManager.cs refuses it.
        print(
            "Disabling default labels via --no-default-labels without specifying --labels "
            "is not supported",
            flush=True,
        )
        return 1
    print("# Authentication\n", flush=True)
    server = Server(base_url, f"RemoteAuth {args.token}")
    try:
        status, payload = server.call_retrying(
            "POST",
            "/_sim/runner/register",
            {
                "url": args.url,
                "name": name,
                "labels": labels,
                "runner_group": args.runnergroup,
                "work_folder": args.work,
                "ephemeral": args.ephemeral,
                "replace": args.replace,
                "disable_update": args.disableupdate,
                "no_default_labels": args.no_default_labels,
            },
        )
    except ConnectionError as error:
        print(f"An error occurred: {error}", flush=True)
        return 1
    print("√ Connected to GitHub\n\n# Runner Registration\n", flush=True)
    if status == 409:
        print("A runner exists with the same name", flush=True)
        return 1
    if status != 201 or not isinstance(payload, dict):
        message = payload.get("message") if isinstance(payload, dict) else None
        print(f"An error occurred: {message or f'HTTP {status}'}", flush=True)
        return 1
    RUNNER_FILE.write_text(
        json.dumps(
            {
                "agentId": payload["runner_id"],
                "agentName": name,
                "poolId": 1,
                "poolName": args.runnergroup or "Default",
                "serverUrl": base_url,
                "gitHubUrl": args.url,
                "workFolder": args.work or "_work",
                "ephemeral": args.ephemeral,
                "disableUpdate": args.disableupdate,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    descriptor = os.open(CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"scheme": "StandInSecret", "data": {"secret": payload["secret"]}}, handle)
    print("√ Runner successfully added\n√ Runner connection is good\n", flush=True)
    print("# Runner settings\n\n√ Settings Saved.", flush=True)
    return 0


def remove(argv: list[str]) -> int:
    args, _ = parse_inputs("config.sh remove", argv, options=("token",), flags=("unattended",))
    settings = settings_from_files()
    if settings is None:
        print("Runner is not configured.", flush=True)
        forget_configuration()
        return 0
    if not args.token:
        print("Invalid configuration provided for token. Terminating unattended configuration.")
        return 1
    server = Server(settings.base_url, f"RemoteAuth {args.token}")
    try:
        status, payload = server.call_retrying(
            "POST",
            "/_sim/runner/remove",
            {"runner_id": settings.runner_id, "secret": settings.secret},
        )
    except ConnectionError as error:
        print(f"An error occurred: {error}", flush=True)
        return 1
    if status not in (204, 404):
        message = payload.get("message") if isinstance(payload, dict) else None
        print(f"An error occurred: {message or f'HTTP {status}'}", flush=True)
        return 1
    forget_configuration()
    print("√ Runner removed successfully\n√ Removed .credentials\n√ Removed .runner", flush=True)
    return 0


def run_helper(code: int) -> int:
    """What run.sh and run-helper.sh make of the listener's exit code (actions/runner
    src/Misc/layoutroot): a terminated error (1) is reported and ends with status 0."""
    if code == 0:
        print("Runner listener exit with 0 return code, stop the service, no retry needed.")
    elif code == 1:
        print("Runner listener exit with terminated error, stop the service, no retry needed.")
    else:
        return code
    print("Exiting runner...", flush=True)
    return 0


def main(argv: list[str]) -> int:
    # A host with a non-UTF-8 locale must not turn a status line into a crash.
    sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    if argv[:1] == ["configure"]:
        return configure(argv[1:])
    if argv[:1] == ["run"]:
        return run_helper(run(argv[1:]))
    print("usage: runner_listener.py configure|run [options]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

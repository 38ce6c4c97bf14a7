"""``StandIn``: the whole stand-in (RunPod, GitHub, pods) as one context manager."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import string
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..clock import SystemClock
from .admin import Admin
from .cloud import Cloud, PodInfo
from .config import GpuType, SimConfig
from .faults import FaultSchedule
from .github import GitHubSim
from .github_mount import GitHubApp
from .ratelimit import KeyRateLimit
from .record import Recorder, RequestRecord
from .runpod_api import RunPodApp
from .server import App, Endpoint
from .sshd import ensure_unprivileged_user, login_user, require_openssh
from .tls import ServerTls, issue

UNPRIVILEGED_USER = "rpsim"
_KEY_ALPHABET = string.ascii_uppercase + string.digits


class StandInError(RuntimeError):
    """The stand-in itself failed (a bug in it, not a fault it was told to inject)."""


class StandIn:
    def __init__(self, config: SimConfig | None = None, *, workdir: Path | str):
        self.config = config or SimConfig()
        self.workdir = Path(workdir)
        self.faults = FaultSchedule()
        self.recorder = Recorder()
        self.internal_errors: list[BaseException] = []
        self.runpod_api_key = "rpa_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(44))
        self.admin_token = secrets.token_urlsafe(24)
        self.pat = "ghp_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        self.app_id = 100000 + secrets.randbelow(900000)
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.app_private_key_pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._app_public_key_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._stopping = threading.Event()
        self.clock = SystemClock(self._stopping)
        self._run_ids = itertools.count(10_000_000_000 + secrets.randbelow(10**9))
        self._env_count = itertools.count(1)
        self._lock = threading.Lock()
        self._unprivileged: str | None = None
        self._runtime_dir: Path | None = None
        self._tls: ServerTls | None = None
        self._cloud: Cloud | None = None
        self._runpod: Endpoint | None = None
        self._github_endpoint: Endpoint | None = None
        self._github: GitHubSim | None = None
        self._closed = False

    # --- life -------------------------------------------------------------------------

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc is None)

    def start(self) -> None:
        require_openssh(self.config.sshd_path, self.config.ssh_keygen_path)
        try:
            self._start()
        except BaseException:
            self.close(raise_errors=False)
            raise

    def _start(self) -> None:
        config = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Pods read their authorized_keys and the CA as the login user, who may not
        # be able to enter the caller's workdir; these public files live apart.
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="rpsim-"))
        self._runtime_dir.chmod(0o755)
        (self._runtime_dir / "pods").mkdir(mode=0o755)
        session_env: dict[str, str] = {}
        if config.tls:
            self._tls = issue(self._runtime_dir, (config.host, *config.cert_names))
            ca = str(self._tls.ca_bundle)
            session_env = {"SSL_CERT_FILE": ca, "CURL_CA_BUNDLE": ca, "REQUESTS_CA_BUNDLE": ca}

        self._cloud = Cloud(
            config,
            clock=self.clock,
            sweep_clock=SystemClock(),
            pods_dir=self._runtime_dir / "pods",
            session_env=session_env,
            account_key=self.runpod_api_key,
            on_error=self._internal_error,
        )
        limiter = (
            KeyRateLimit(self.clock, config.rate_limit_per_minute, config.rate_limit_per_second)
            if config.rate_limit
            else None
        )
        self._runpod = self._endpoint(
            RunPodApp(self._cloud, on_error=self._internal_error, rate_limit=limiter),
            admin=Admin(self.admin_token, self.faults, self.recorder, self.all_pods, self._cloud),
        )
        if config.github:
            endpoint_box: list[Endpoint] = []
            self._github = GitHubSim(
                owner=config.owner,
                repo=config.repo,
                app_id=self.app_id,
                app_public_key_pem=self._app_public_key_pem,
                pat=self.pat,
                base_url=lambda: endpoint_box[0].base_url,
                clock_now=time.time,
            )
            self._github.set_runner_online_delay(config.runner_online_delay)
            self._github_endpoint = self._endpoint(GitHubApp(self._github))
            endpoint_box.append(self._github_endpoint)
            self._github_endpoint.start()
        self._runpod.start()
        self._cloud.start()

    def _endpoint(self, app: App, admin: Admin | None = None) -> Endpoint:
        return Endpoint(
            app,
            clock=self.clock,
            faults=self.faults,
            recorder=self.recorder,
            timeout_hold=self.config.timeout_hold,
            on_error=self._internal_error,
            tls=self._tls.context if self._tls else None,
            admin=admin,
            host=self.config.host,
        )

    def close(self, raise_errors: bool = True) -> None:
        """Terminate every pod, kill their processes, stop the servers.

        Raises ``StandInError`` if the stand-in hit a bug of its own while running,
        so such a bug cannot pass for a provider outage in a green test.
        """
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self._cloud is not None:
            self._cloud.close()
        for endpoint in (self._runpod, self._github_endpoint):
            if endpoint is not None:
                endpoint.stop()
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
        if raise_errors and self.internal_errors:
            first = self.internal_errors[0]
            raise StandInError(
                f"the stand-in failed {len(self.internal_errors)} time(s); first: {first!r}"
            ) from first

    def _internal_error(self, error: BaseException) -> None:
        with self._lock:
            self.internal_errors.append(error)

    # --- where things are -------------------------------------------------------------

    @property
    def cloud(self) -> Cloud:
        if self._cloud is None:
            raise RuntimeError("the stand-in is not started")
        return self._cloud

    @property
    def runpod_base_url(self) -> str:
        """What the official SDK takes as ``RUNPOD_API_BASE_URL``."""
        if self._runpod is None:
            raise RuntimeError("the stand-in is not started")
        return self._runpod.base_url

    @property
    def runpod_url(self) -> str:
        """The GraphQL endpoint, the stand-in's https://api.runpod.io/graphql."""
        return self.runpod_base_url + "/graphql"

    @property
    def admin_url(self) -> str:
        return self.runpod_base_url + "/_sim/admin"

    @property
    def github(self) -> GitHubSim:
        """The ``GitHubSim`` behind ``github_api_url``."""
        if self._github is None:
            raise RuntimeError("the GitHub side is not mounted (SimConfig.github=False)")
        return self._github

    @property
    def github_api_url(self) -> str:
        if self._github_endpoint is None:
            raise RuntimeError("the GitHub side is not mounted (SimConfig.github=False)")
        return self._github_endpoint.base_url

    @property
    def ca_bundle(self) -> str | None:
        """The CA file to trust (None when serving plain HTTP)."""
        return str(self._tls.ca_bundle) if self._tls else None

    @property
    def spki_pin(self) -> str | None:
        """The base64 SHA-256 of the servers' public key, for pinning."""
        return self._tls.spki_pin if self._tls else None

    @property
    def repo(self) -> str:
        return f"{self.config.owner}/{self.config.repo}"

    @property
    def runner_version(self) -> str:
        return self.github.runner_tarball[0]

    @property
    def runner_sha256(self) -> str:
        return self.github.runner_tarball[1]

    @property
    def runner_download_url(self) -> str:
        return self.github.runner_download_url()

    def add_runner_release(self, version: str) -> str:
        """Publish another runner release at the stand-in; returns its SHA-256."""
        return self.github.add_runner_release(version)[1]

    def refuse_runners_below(self, version: str) -> None:
        """GitHub's expiry of old runner versions: a runner older than ``version`` is
        refused at its first message poll with GitHub's message ("" to stop)."""
        self.github.set_min_runner_version(version)

    @property
    def ssh_user(self) -> str:
        return login_user()

    @property
    def unprivileged_user(self) -> str:
        """A user without root to log in as; created on first use when running as root."""
        if os.geteuid() != 0:
            return login_user()
        with self._lock:
            if self._unprivileged is None:
                self._unprivileged = ensure_unprivileged_user(UNPRIVILEGED_USER)
            return self._unprivileged

    # --- the action's environment -----------------------------------------------------

    def action_env(
        self,
        *,
        run_id: str | int | None = None,
        run_attempt: str | int = 1,
        repository_visibility: str = "private",
        **inputs: str | int | float | bool | None,
    ) -> dict[str, str]:
        """The environment GitHub gives the action's container, for this stand-in.

        Inputs are given in snake case (``gpu_type="..."`` is the input ``gpu-type``)
        and land as ``INPUT_GPU-TYPE`` like GitHub does. The credentials are filled in
        unless given; an input given as None is left out. Each call gets a new run id
        (unless ``run_id`` is given) and fresh ``GITHUB_OUTPUT``/``GITHUB_STATE``/
        ``GITHUB_STEP_SUMMARY``/``GITHUB_ENV`` files, ``RUNNER_TEMP`` and ``HOME``
        under the workdir, and an event payload at ``GITHUB_EVENT_PATH`` whose repository
        has ``repository_visibility`` (public, private or internal). Merge it over
        ``os.environ`` to run the action.
        """
        defaults: dict[str, str | int | float | bool | None] = {
            "runpod-api-key": self.runpod_api_key
        }
        if self._github is not None:
            defaults.update(
                {
                    "github-app-id": self.app_id,
                    "github-app-private-key": self.app_private_key_pem,
                }
            )
        defaults.update({name.replace("_", "-"): value for name, value in inputs.items()})
        env = {
            f"INPUT_{name.upper()}": _input_text(value)
            for name, value in defaults.items()
            if value is not None
        }
        run = self.workdir / f"run-{next(self._env_count)}"
        for folder in ("runner_temp", "home", "workspace"):
            (run / folder).mkdir(parents=True, exist_ok=True)
        files = {
            "GITHUB_OUTPUT": run / "output",
            "GITHUB_STATE": run / "state",
            "GITHUB_STEP_SUMMARY": run / "summary.md",
            "GITHUB_ENV": run / "env",
        }
        for path in files.values():
            path.touch()
        env.update({name: str(path) for name, path in files.items()})
        env["GITHUB_EVENT_PATH"] = str(self._event_payload(run, repository_visibility))
        github_url = self.github_api_url if self._github is not None else "https://github.invalid"
        env.update(
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_REPOSITORY": self.repo,
                "GITHUB_REPOSITORY_OWNER": self.config.owner,
                "GITHUB_RUN_ID": str(run_id if run_id is not None else next(self._run_ids)),
                "GITHUB_RUN_ATTEMPT": str(run_attempt),
                "GITHUB_JOB": "gpu",
                "GITHUB_API_URL": github_url,
                "GITHUB_SERVER_URL": github_url,
                "RUNPOD_GRAPHQL_URL": self.runpod_url,
                "RUNNER_TEMP": str(run / "runner_temp"),
                "HOME": str(run / "home"),
                "GITHUB_WORKSPACE": str(run / "workspace"),
            }
        )
        if self.ca_bundle:
            env["REQUESTS_CA_BUNDLE"] = self.ca_bundle
        return env

    def _event_payload(self, run: Path, visibility: str) -> Path:
        """The webhook payload the runner writes for the workflow's event; only its
        ``repository`` object, whose ``private`` and ``visibility`` fields GitHub's
        webhook schema (``repository-webhooks``) defines."""
        path = run / "event.json"
        repository = {
            "full_name": self.repo,
            "name": self.config.repo,
            "owner": {"login": self.config.owner},
            "private": visibility != "public",
            "visibility": visibility,
        }
        path.write_text(json.dumps({"repository": repository}), encoding="utf-8")
        return path

    # --- pods, capacity, faults, record ---------------------------------------------

    def live_pods(self) -> list[PodInfo]:
        """Pods not terminated (stopped ones included: they still cost money)."""
        return [self.cloud.info(p) for p in self.cloud.live()]

    def all_pods(self) -> list[PodInfo]:
        """Every pod ever made, terminated ones included, in order of creation."""
        if self._cloud is None:
            return []
        return [self.cloud.info(p) for p in self.cloud.every()]

    def pod(self, pod_id: str) -> PodInfo:
        """Any pod ever made; KeyError for an id the stand-in never issued."""
        return self.cloud.info(self.cloud.find(pod_id))

    def sshd_log(self, pod_id: str) -> list[str]:
        """The last lines sshd logged for a pod (for failing tests' messages)."""
        return list(self.cloud.find(pod_id).sshd.log)

    def requests(self, api: str | None = None, operation: str | None = None) -> list[RequestRecord]:
        return self.recorder.requests(api, operation)

    def set_capacity(
        self, gpu: str | None, cloud: str | None = None, spot: bool | None = None, *, free: int
    ) -> None:
        """Free GPUs of a type (None: every type) in a cloud ("SECURE"/"COMMUNITY",
        None: both), for spot, on-demand or (None) both."""
        self.cloud.set_capacity(gpu, cloud, spot, free=free)

    def withdraw_spot(self, withdrawn: bool = True) -> None:
        """Spot gone as RunPod announced: podRentInterruptable finds no instances,
        spot prices and minimumBidPrice read null."""
        self.cloud.withdraw_spot(withdrawn)

    def remove_spot_from_schema(self, removed: bool = True) -> None:
        """Spot leaves RunPod's API: podRentInterruptable and the spot price fields
        fail validation (HTTP 400 GRAPHQL_VALIDATION_FAILED), and no spot is sold."""
        self.cloud.remove_spot_from_schema(removed)

    def refuse_spot_terminate_after(self, refused: bool = True) -> None:
        """PodRentInterruptableInput without terminateAfter: a spot create that sends
        it is refused with HTTP 400."""
        self.cloud.refuse_spot_terminate_after(refused)

    def set_no_capacity_answer(self, answer: str) -> None:
        """How a create with no room is answered: "message", "null" or
        "supply_constraint"."""
        self.cloud.set_no_capacity_answer(answer)

    def set_prices(self, gpu: str, **changes: Any) -> None:
        """Change ``GpuType`` fields, e.g. ``secure_spot_price=0.5, minimum_bid=0.4``."""
        self.cloud.set_prices(gpu, **changes)

    def add_gpu_type(self, gpu_type: GpuType) -> None:
        self.cloud.set_gpu_type(gpu_type)

    def preempt(self, pod_id: str) -> None:
        """What a spot reclaim does: the pod goes EXITED and everything in it dies."""
        self.cloud.preempt(pod_id)

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float, interval: float = 0.05
    ) -> bool:
        """Poll ``predicate`` on the stand-in's clock until true or ``timeout``."""
        deadline = self.clock.monotonic() + timeout
        while not predicate():
            if self.clock.monotonic() >= deadline:
                return False
            self.clock.sleep(interval)
        return True


def _input_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

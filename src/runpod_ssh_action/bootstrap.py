"""Bootstrapping a pod: the watchdog and (runner mode) the ephemeral runner.

The work is done by ``pod/bootstrap.sh`` on the pod. It travels over SSH as the
stdin of ``bash -s``, in the session of the first login, followed by a config block of
``KEY=<base64>`` lines, so the JIT config or registration token never appears on a
command line or in a file the bootstrap writes (the script's header says how, and what
the runner itself keeps). This module renders that input, runs it and turns the
script's one ``RPSA-RESULT`` line into a result or a ``BootstrapError``.

The watchdog terminates the pod with its pod-scoped key when the maximum lifetime
passes and, in runner mode, when the runner process has exited or no job has started
within ``idle_timeout_seconds`` of the bootstrap. A job running as root (``runner_user``
empty, the login being root) can read that key and kill the watchdog; with
``runner_user`` set the runner runs as that unprivileged user, which can do neither.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from . import ssh
from .clock import Clock
from .errors import ActionError
from .masking import Masker

CONFIG_HEADER = "RPSA-CONFIG 1"
CONFIG_END = "RPSA-END"
RESULT_PREFIX = "RPSA-RESULT "
WARN_PREFIX = "RPSA-WARN "
REMOTE_COMMAND = "bash -s"
DEFAULT_WATCHDOG_INTERVAL = 5
STDERR_TAIL = 600

_POD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_RUNNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_LABEL = re.compile(r"^[^,\s]+$")
_URL = re.compile(r"^https?://\S+$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

_FIXES = {
    "no-pod-key": (
        "Use an image that keeps RunPod's environment: RUNPOD_API_KEY must reach the "
        "container's first process or /etc/rp_environment (log in as root to read the "
        "former)"
    ),
    "pod-mismatch": "The SSH endpoint belongs to another pod; run the job again",
    "missing-tool": (
        "Use an image with bash, curl, tar and coreutils (as root, curl is installed with "
        "apt-get when missing)"
    ),
    "bad-home": "The ssh-user needs a writable home directory on the pod",
    "download-failed": (
        "Check the runner version inputs and that the pod can reach the runner download URL"
    ),
    "checksum-mismatch": (
        "The download does not match the published SHA-256: check the runner version and "
        "checksum inputs, or whether a proxy alters downloads"
    ),
    "extract-failed": "Give the pod more container disk (container-disk-gb)",
    "runner-refused": (
        "Check the token's permission (repository runners need administration: write, "
        "organization runners organization_self_hosted_runners: write), the runner group "
        "and the labels"
    ),
    "runner-start-failed": "Check that the image can run the GitHub Actions runner",
    "runner-exited": (
        "Check runner-version (latest is the newest release) and the runner's log on the "
        "pod (runner.log and the runner's _diag folder)"
    ),
    "watchdog-failed": "Check that the image can run background processes (setsid, nohup)",
    "already-running": "A runner with this name already runs on the pod; run the job again",
    "runner-user-needs-root": "Set ssh-user to root, or leave runner-user empty",
    "runner-user-privileged": (
        "Name a new user in runner-user, or one without root's ids or an admin group "
        "(sudo, wheel, docker, ...)"
    ),
    "runner-user-failed": "Use an image where root can add users (useradd) and change /etc",
}
_DEFAULT_FIX = "This is likely a bug in runpod-ssh-action; please report it with the log"
# GitHub's refusal of an expired version (actions/runner #4305, BrokerHttpClient.cs
# RunnerVersionTooOld): the one runner exit whose fix is certain.
_DEPRECATED = "is deprecated and cannot receive messages"
_DEPRECATED_FIX = (
    "Set runner-version to latest (or to a release from the last 30 days): GitHub stops "
    "giving jobs to a runner version about 30 days after a newer release"
)


class BootstrapError(ActionError):
    """The bootstrap script failed; ``reason`` is its short code (e.g.
    ``checksum-mismatch``)."""

    code = "BOOTSTRAP_FAILED"

    def __init__(self, what: str, why: str, reason: str):
        self.reason = reason
        self.detail = why
        fix = _FIXES.get(reason, _DEFAULT_FIX)
        if reason == "runner-exited":
            why = f'the runner stopped before it took a job, saying "{why.rstrip(". ")}"'
            if _DEPRECATED in why:
                fix = _DEPRECATED_FIX
        super().__init__(what, why, fix, code="BOOTSTRAP_" + reason.upper().replace("-", "_"))


@dataclass(frozen=True)
class BootstrapConfig:
    mode: Literal["runner", "ssh"]
    pod_id: str
    runpod_api_url: str
    max_lifetime_deadline: int
    idle_timeout_seconds: int
    runner_name: str = ""
    runner_labels: tuple[str, ...] = ()
    runner_url: str = ""
    runner_sha256: str = ""
    registration: Literal["jit", "token"] = "jit"
    jit_config: str = field(default="", repr=False)
    registration_token: str = field(default="", repr=False)
    github_url: str = ""
    runner_group: str = ""
    runner_user: str = ""
    watchdog_interval_seconds: int = DEFAULT_WATCHDOG_INTERVAL

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.jit_config, self.registration_token) if s)


@dataclass(frozen=True)
class BootstrapResult:
    watchdog_pid: int
    runner_pid: int | None
    work_dir: str
    warnings: tuple[str, ...] = ()


def script() -> bytes:
    return (resources.files("runpod_ssh_action") / "pod" / "bootstrap.sh").read_bytes()


def _invalid(why: str) -> BootstrapError:
    return BootstrapError("The pod bootstrap was given a bad configuration", why, "config")


def _check(config: BootstrapConfig) -> None:
    if config.mode not in ("runner", "ssh"):
        raise _invalid(f"unknown mode {config.mode!r}")
    if not _POD_ID.match(config.pod_id):
        raise _invalid(f"pod id {config.pod_id!r} has unexpected characters")
    if not _URL.match(config.runpod_api_url):
        raise _invalid("the RunPod API URL is not an http(s) URL")
    if config.max_lifetime_deadline <= 0 or config.idle_timeout_seconds < 0:
        raise _invalid("the lifetime deadline must be positive, the idle timeout not negative")
    if config.watchdog_interval_seconds < 1:
        raise _invalid("the watchdog interval must be at least one second")
    if config.mode == "ssh":
        return
    if config.idle_timeout_seconds < 1:
        raise _invalid("a runner needs an idle timeout of at least one second")
    if not _RUNNER_NAME.match(config.runner_name):
        raise _invalid(f"runner name {config.runner_name!r} is not a safe directory name")
    if not all(_LABEL.match(label) for label in config.runner_labels):
        raise _invalid("a runner label is empty or holds a comma or a space")
    if not _URL.match(config.runner_url):
        raise _invalid("the runner download URL is not an http(s) URL")
    if not _SHA256.match(config.runner_sha256):
        raise _invalid("the runner SHA-256 is not 64 hex digits")
    if config.runner_user and (not _USER.match(config.runner_user) or config.runner_user == "root"):
        raise _invalid(f"runner user {config.runner_user!r} is not an unprivileged user name")
    if config.registration == "jit" and not config.jit_config:
        raise _invalid("JIT registration without a JIT config")
    if config.registration == "token":
        if not config.registration_token:
            raise _invalid("token registration without a registration token")
        if not _URL.match(config.github_url):
            raise _invalid("token registration needs the GitHub repository or org URL")


def render_input(config: BootstrapConfig) -> bytes:
    """The exact bytes for the stdin of ``bash -s`` on the pod: script, then config."""
    _check(config)
    values = {
        "MODE": config.mode,
        "POD_ID": config.pod_id,
        "API_URL": config.runpod_api_url,
        "DEADLINE": str(config.max_lifetime_deadline),
        "IDLE_TIMEOUT": str(config.idle_timeout_seconds),
        "INTERVAL": str(config.watchdog_interval_seconds),
        "RUNNER_NAME": config.runner_name,
        "RUNNER_LABELS": ",".join(config.runner_labels),
        "RUNNER_URL": config.runner_url,
        "RUNNER_SHA256": config.runner_sha256.lower(),
        "REGISTRATION": config.registration,
        "JIT_CONFIG": config.jit_config,
        "REGISTRATION_TOKEN": config.registration_token,
        "GITHUB_URL": config.github_url,
        "RUNNER_GROUP": config.runner_group,
        "RUNNER_USER": config.runner_user,
    }
    body = script()
    if not body.endswith(b"\n"):
        body += b"\n"
    lines = [CONFIG_HEADER]
    lines += [f"{k}={base64.b64encode(v.encode()).decode('ascii')}" for k, v in values.items()]
    lines.append(CONFIG_END)
    return body + "".join(f"{line}\n" for line in lines).encode("ascii")


def runner_status(
    target: ssh.SshTarget,
    pod_id: str,
    runner_name: str,
    *,
    timeout: float,
    clock: Clock | None = None,
    masker: Masker | None = None,
) -> BootstrapError | None:
    """Ask the pod whether its runner still runs: the error to fail with if it exited,
    else None (also when the pod could not be asked: the next look may work).

    The same script runs with ``MODE=status``, so the answer is read like a
    bootstrap's and the runner's reason is taken from its output the same way."""
    values = {"MODE": "status", "POD_ID": pod_id, "RUNNER_NAME": runner_name}
    lines = [CONFIG_HEADER]
    lines += [f"{k}={base64.b64encode(v.encode()).decode('ascii')}" for k, v in values.items()]
    lines.append(CONFIG_END)
    body = script().rstrip(b"\n") + b"\n"
    stdin = body + "".join(f"{line}\n" for line in lines).encode("ascii")
    try:
        done = ssh.run(target, REMOTE_COMMAND, stdin=stdin, timeout=timeout, clock=clock)
        config = BootstrapConfig("ssh", pod_id, "https://unused", 1, 0)
        parse_output(
            done.stdout, done.stderr, done.returncode, config=config, target=target, masker=masker
        )
    except BootstrapError as exc:
        if exc.reason == "runner-exited":
            return BootstrapError(f"The runner on pod {pod_id} exited", exc.detail, exc.reason)
        return None
    except ssh.SshError:
        return None
    return None


def bootstrap_at_login(
    target: ssh.SshTarget,
    config: Callable[[], BootstrapConfig],
    *,
    clock: Clock,
    deadline: float,
    timeout: Callable[[], float],
    on_attempt: Callable[[int, str], None] | None = None,
    masker: Masker | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> tuple[str, BootstrapResult]:
    """Log in (retried until ``deadline``, as ``ssh.wait_for_login`` does) and run the
    bootstrap in the session of the first login that works; return the pinned host
    key line(s) and the result.

    ``config`` and ``timeout`` are asked for once logged in. A login refused before the
    pod's shell was ready is tried again; a session that drops once the bootstrap's
    input went out is not, because the script may have started the watchdog or the
    runner: that is a ``BootstrapError``. ``on_warning`` gets each ``RPSA-WARN`` line
    (redacted), also when the bootstrap then fails.
    """
    chosen: list[BootstrapConfig] = []

    def payload() -> bytes:
        chosen.append(config())
        return render_input(chosen[0])

    login = ssh.wait_for_login(
        target,
        clock=clock,
        deadline=deadline,
        then=ssh.SessionCommand(REMOTE_COMMAND, payload, timeout),
        on_attempt=on_attempt,
        masker=masker,
    )
    assert login.output is not None
    done = login.output
    result = parse_output(
        done.stdout,
        done.stderr,
        done.returncode,
        config=chosen[0],
        target=target,
        masker=masker,
        on_warning=on_warning,
    )
    return login.host_keys, result


def _redactor(config: BootstrapConfig, masker: Masker | None) -> Callable[[str], str]:
    # A Masker also hides each line of a multi-line secret, as the runner's log does.
    local = Masker()
    for secret in config.secrets:
        local.add(secret)

    def redact(text: str) -> str:
        text = local.redact(text if masker is None else masker.redact(text))
        return " ".join(text.split())

    return redact


def parse_output(
    stdout: bytes,
    stderr: bytes,
    returncode: int,
    *,
    config: BootstrapConfig,
    target: ssh.SshTarget,
    masker: Masker | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> BootstrapResult:
    redact = _redactor(config, masker)
    lines = stdout.decode("utf-8", "replace").splitlines()
    warnings = tuple(
        redact(line[len(WARN_PREFIX) :]) for line in lines if line.startswith(WARN_PREFIX)
    )
    # Told before any failure is raised: a warning often explains the failure after it.
    if on_warning is not None:
        for warning in warnings:
            on_warning(warning)
    results = [line[len(RESULT_PREFIX) :] for line in lines if line.startswith(RESULT_PREFIX)]
    where = f"pod {config.pod_id} ({target.user}@{target.host} port {target.port})"
    if not results:
        # Redacted before it is cut, so no cut can split a secret past the mask.
        tail = redact(stderr.decode("utf-8", "replace"))[-STDERR_TAIL:]
        reason = "no-bash" if returncode == 127 else "no-result"
        raise BootstrapError(
            f"The bootstrap on {where} gave no result",
            f"ssh exited with status {returncode}" + (f": {tail}" if tail else ""),
            reason,
        )
    status, _, rest = results[-1].partition(" ")
    if status == "ok" and returncode == 0:
        fields = _fields(rest)
        try:
            watchdog_pid = int(fields["watchdog_pid"])
            runner = fields.get("runner_pid", "-")
            runner_pid = None if runner == "-" else int(runner)
        except (KeyError, ValueError):
            raise BootstrapError(
                f"The bootstrap on {where} gave a result that does not parse",
                redact(rest),
                "bad-result",
            ) from None
        return BootstrapResult(watchdog_pid, runner_pid, fields.get("work_dir", ""), warnings)
    code, _, message = rest.partition(" ")
    if status != "error" or not code:
        code, message = "bad-result", rest
    raise BootstrapError(f"The bootstrap on {where} failed", redact(message), code)


def _fields(text: str) -> dict[str, str]:
    """``a=1 b=2 work_dir=rest of line``: the last field may hold spaces."""
    fields: dict[str, str] = {}
    while text:
        if text.startswith("work_dir="):
            fields["work_dir"] = text[len("work_dir=") :]
            break
        item, _, text = text.partition(" ")
        key, _, value = item.partition("=")
        fields[key] = value
    return fields

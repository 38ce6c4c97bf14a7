"""Talking to a pod over SSH with the system's OpenSSH client.

The first contact (``wait_for_login``) is a real login, not an open port: RunPod
shows the port before the image's start script has written ``authorized_keys`` and
started sshd. It records the pod's host key; every later ``run`` insists on exactly
that key, so nothing is sent to a host that was swapped in between. A command can run
in the session of that first login (``SessionCommand``), which saves a whole SSH
session (key exchange, authentication, a shell) on the way to a working pod.

Every call builds its own argv (no shell) with ``-F /dev/null`` so no ssh config of
the machine the action runs on can weaken the checks. Several pods are set up at
once from threads; the only shared thing is a ``known_hosts`` file, which is only
ever replaced whole, under a lock file, so a concurrent ``run`` reads either the old
or the new version and never half of one.
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import selectors
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .clock import Clock, remaining
from .errors import ActionError
from .masking import Masker

# First retry comes fast (sshd usually starts a moment after the port shows), later
# ones slow down so a pod that takes minutes is not hammered.
FIRST_RETRY = 0.25
LONGEST_RETRY = 3.0
RETRY_GROWTH = 1.6
# One login attempt must not eat a long deadline on a black-holed port.
LOGIN_CONNECT_TIMEOUT = 10
# Beyond the TCP connect, authentication and `true` need a few seconds more.
LOGIN_EXTRA_SECONDS = 20
RUN_CONNECT_TIMEOUT = 20
# How often a running command checks whether the step was cancelled.
CANCEL_POLL = 0.2
# The tail of ssh's stderr worth quoting in an error.
STDERR_TAIL = 400
# What the pod's shell prints before it runs a login's command. Seeing it means the
# login worked (host key, authentication, a shell) and nothing has reached the command
# yet: its input is written only afterwards, so a failure before it is safe to retry.
SESSION_READY = "RPSA-SESSION-READY"

_OPTIONS = (
    "-F",
    "/dev/null",
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "IdentityAgent=none",
    "-o",
    "PasswordAuthentication=no",
    "-o",
    "KbdInteractiveAuthentication=no",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "HashKnownHosts=no",
    "-o",
    "UpdateHostKeys=no",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=4",
)

_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HOST_KEY_REFUSED = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED")


class SshError(ActionError):
    code = "SSH_FAILED"


class SshLoginError(SshError):
    code = "SSH_LOGIN_FAILED"


class HostKeyMismatchError(SshError):
    code = "SSH_HOST_KEY_CHANGED"


@dataclass(frozen=True)
class KeyPair:
    private_openssh: str = field(repr=False)
    public_openssh: str


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int
    user: str
    key_path: Path
    known_hosts: Path

    @property
    def host_field(self) -> str:
        """How OpenSSH names this endpoint in ``known_hosts``."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class SessionCommand:
    """A command to run in the session of the first successful login.

    ``stdin`` and ``timeout`` are called once, after the login worked and the host key
    was recorded: the input may wait for something still under way (a runner
    registration), and is sent only to the host whose key was pinned. Secrets belong
    in ``stdin``; ``command`` shows up in process lists.
    """

    command: str
    stdin: Callable[[], bytes]
    timeout: Callable[[], float]


@dataclass(frozen=True)
class Login:
    """The pinned host key line(s), and what the session's command did (if one ran)."""

    host_keys: str
    output: subprocess.CompletedProcess[bytes] | None = None


def generate_keypair(comment: str) -> KeyPair:
    if any(c in comment for c in "\r\n"):
        raise ValueError("an SSH key comment must be one line")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode("ascii")
    )
    return KeyPair(private, f"{public} {comment}".rstrip())


def write_private_key(directory: Path, name: str, key: KeyPair) -> Path:
    """Write the private key as ``directory/name`` (0600, the directory 0700)."""
    if not _KEY_NAME.match(name):
        raise ValueError(f"unsafe key file name {name!r}")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        # An existing file keeps its old mode through O_CREAT; ssh refuses open keys.
        os.fchmod(fd, 0o600)
        os.write(fd, key.private_openssh.encode("ascii"))
    finally:
        os.close(fd)
    return path


def _ssh_argv(
    target: SshTarget, *, strict: str, known_hosts: Path, connect_timeout: int
) -> list[str]:
    return [
        "ssh",
        *_OPTIONS,
        "-o",
        f"StrictHostKeyChecking={strict}",
        # Quoted: ssh splits this option's value on spaces into several files.
        "-o",
        f'UserKnownHostsFile="{known_hosts}"',
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-i",
        str(target.key_path),
        "-p",
        str(target.port),
        "-l",
        target.user,
        "--",
        target.host,
    ]


def _tail(stderr: bytes, masker: Masker | None) -> str:
    text = stderr.decode("utf-8", "replace")
    if masker is not None:
        text = masker.redact(text)
    text = " ".join(text.split())
    if len(text) > STDERR_TAIL:
        text = "..." + text[-STDERR_TAIL:]
    return text


def _login_fix(last: str, user: str) -> str:
    if "Permission denied" in last:
        return (
            f"The image must append the PUBLIC_KEY environment variable to "
            f"~/.ssh/authorized_keys of '{user}' before it starts sshd (RunPod's official "
            "images do); check the ssh-user input"
        )
    if any(marker in last for marker in _HOST_KEY_REFUSED):
        return "Another machine answered at this address during the wait; run the job again"
    return (
        "The image must start sshd on port 22 with the key from the PUBLIC_KEY environment "
        f"variable (RunPod's official images do), and '{user}' (the ssh-user input) must be "
        "able to log in; the pod must expose 22/tcp on a public IP"
    )


def wait_for_login(
    target: SshTarget,
    *,
    clock: Clock,
    deadline: float,
    then: SessionCommand | None = None,
    on_attempt: Callable[[int, str], None] | None = None,
    masker: Masker | None = None,
) -> Login:
    """Log in until it works or ``deadline`` (a ``clock.monotonic`` value) passes;
    record the host key into ``target.known_hosts`` and return its line(s), ready for
    the ``ssh-known-hosts`` output, with what ``then`` did in that same session.

    ``on_attempt(n, reason)`` hears of every failed attempt. The key seen first is
    pinned for the rest of the wait (``accept-new`` into a scratch file), so a host
    that changes its key while we wait is refused too. Only a login that failed before
    the pod's shell was ready is tried again: once ``then``'s input has been sent, its
    outcome, a dropped session included, is the caller's to judge.
    """
    target.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch_name = tempfile.mkstemp(
        prefix=".login-", suffix=".known_hosts", dir=target.known_hosts.parent
    )
    os.close(fd)
    scratch = Path(scratch_name)
    started = clock.monotonic()
    try:
        interval = FIRST_RETRY
        attempt = 0
        while True:
            attempt += 1
            connect_timeout = max(
                1, min(LOGIN_CONNECT_TIMEOUT, math.ceil(remaining(clock, deadline)))
            )
            argv = _ssh_argv(
                target, strict="accept-new", known_hosts=scratch, connect_timeout=connect_timeout
            )
            command = then.command if then is not None else "true"
            proc = subprocess.Popen(
                [*argv, f"echo {SESSION_READY} && exec {command}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                ready = _await_ready(proc, connect_timeout + LOGIN_EXTRA_SECONDS, clock)
                if isinstance(ready, _Ready):
                    host_keys = _record_host_keys(target, scratch)
                    if then is None:
                        _communicate(proc, b"", LOGIN_EXTRA_SECONDS, clock, target)
                        return Login(host_keys)
                    out, err = _communicate(proc, then.stdin(), then.timeout(), clock, target)
                    output = subprocess.CompletedProcess(
                        proc.args, proc.returncode, ready.stdout + out, ready.stderr + err
                    )
                    return Login(host_keys, output)
            except BaseException:
                proc.kill()
                proc.communicate()
                raise
            last = _tail(ready, masker) if isinstance(ready, bytes) else ready.reason
            if not last:
                last = f"the login ended with exit status {proc.returncode}"
            if on_attempt is not None:
                on_attempt(attempt, last)
            left = remaining(clock, deadline)
            if left <= 0:
                raise SshLoginError(
                    f"Could not log in to the pod over SSH as {target.user}@{target.host} "
                    f"port {target.port}",
                    f"{attempt} attempt(s) in {clock.monotonic() - started:.0f} s; "
                    f"the last ssh said: {last}",
                    _login_fix(last, target.user),
                )
            clock.sleep(min(interval, left))
            interval = min(interval * RETRY_GROWTH, LONGEST_RETRY)
    finally:
        scratch.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Ready:
    """The shell is up: what came after its ready line, and ssh's stderr so far."""

    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class _TimedOut:
    reason: str


def _await_ready(
    proc: subprocess.Popen[bytes], limit: float, clock: Clock
) -> _Ready | _TimedOut | bytes:
    """Read until the pod's shell prints ``SESSION_READY``; on ssh ending first, its
    stderr (the process reaped); after ``limit`` real seconds, the process killed."""
    assert proc.stdout is not None and proc.stderr is not None
    marker = f"\n{SESSION_READY}\n".encode()
    out, err = bytearray(b"\n"), bytearray()
    buffers = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    ends = time.monotonic() + limit
    with selectors.DefaultSelector() as selector:
        for fileno in buffers:
            selector.register(fileno, selectors.EVENT_READ)
        while selector.get_map():
            left = ends - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.communicate()
                return _TimedOut(f"ssh did not log in within {limit:.0f} s")
            for key, _ in selector.select(min(CANCEL_POLL, left)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                buffers[key.fd] += chunk
            found = out.find(marker)
            if found >= 0:
                return _Ready(bytes(out[found + len(marker) :]), bytes(err))
            clock.sleep(0)
    proc.communicate()  # closes the pipes and reaps ssh
    return bytes(err)


def _communicate(
    proc: subprocess.Popen[bytes],
    stdin: bytes,
    timeout: float,
    clock: Clock | None,
    target: SshTarget,
) -> tuple[bytes, bytes]:
    """Feed ``stdin``, then read until ssh ends; kill it after ``timeout`` real
    seconds, or within ``CANCEL_POLL`` of a cancelled step (with a ``clock``)."""
    # The wait is on a real process, so its timeout is in real seconds; the clock is
    # consulted only for cancellation.
    ends = time.monotonic() + timeout
    pending_input: bytes | None = stdin
    while True:
        try:
            return proc.communicate(
                pending_input, timeout=max(0.0, min(CANCEL_POLL, ends - time.monotonic()))
            )
        except subprocess.TimeoutExpired:
            pending_input = None
            if time.monotonic() >= ends:
                raise SshError(
                    f"The command on the pod at {target.host} port {target.port} "
                    "did not finish in time",
                    f"no end after {timeout:.0f} s",
                    "Check that the pod is healthy; a slow download or a hung sshd can cause this",
                    code="SSH_TIMEOUT",
                ) from None
            if clock is not None:
                clock.sleep(0)


def _record_host_keys(target: SshTarget, scratch: Path) -> str:
    lines = [line for line in scratch.read_text().splitlines() if line.strip()]
    if not lines:
        raise SshLoginError(
            f"The SSH login to {target.host} port {target.port} recorded no host key",
            "ssh accepted the host without writing it to the known_hosts file",
            "Report this as a bug in runpod-ssh-action",
        )
    lock_path = target.known_hosts.with_name(target.known_hosts.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            old = target.known_hosts.read_text().splitlines()
        except FileNotFoundError:
            old = []
        # An earlier pod at the same address and port left a key that is no longer true.
        kept = [line for line in old if line.split(" ", 1)[0] != target.host_field]
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts-", dir=target.known_hosts.parent)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{line}\n" for line in [*kept, *lines]))
        os.replace(tmp, target.known_hosts)
    return "\n".join(lines)


def run(
    target: SshTarget,
    command: str,
    *,
    stdin: bytes = b"",
    timeout: float,
    clock: Clock | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` on the pod in a session of its own, feeding ``stdin``; only the
    recorded host key is accepted. Secrets belong in ``stdin``: ``command`` shows up in
    process lists.

    Raises ``HostKeyMismatchError`` if the pod's key is not the recorded one and
    ``SshError`` on timeout; otherwise returns what ssh returned (255: ssh failed).
    With a ``clock``, a cancelled step stops the command within ``CANCEL_POLL``.
    """
    argv = _ssh_argv(
        target,
        strict="yes",
        known_hosts=target.known_hosts,
        connect_timeout=max(1, min(RUN_CONNECT_TIMEOUT, math.ceil(timeout))),
    )
    proc = subprocess.Popen(
        [*argv, command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = _communicate(proc, stdin, timeout, clock, target)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode == 255 and any(m.encode() in err for m in _HOST_KEY_REFUSED):
        raise HostKeyMismatchError(
            f"The pod at {target.host} port {target.port} showed a different SSH host key",
            "the key no longer matches the one recorded at the first login, so nothing "
            "was sent to it",
            "Run the job again; if it keeps happening, something between the runner and "
            "RunPod is intercepting SSH",
        )
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def ssh_command(user: str, host: str, port: int, *, key: str, known_hosts: str) -> str:
    """The command a person runs to reach the pod, for the ``ssh-command`` output.

    It runs under the ssh config of the runner's machine, which may say
    ``StrictHostKeyChecking no`` and so connect to an impostor. A command-line option
    wins over every config file (the first value obtained is used, ssh_config(5)), so
    the checks are forced here: this pod's host key only, this key only.

    ``key`` and ``known_hosts`` are the paths as the later step's shell names them: a
    leading ``$NAME`` (the runner's temp directory) is left for that shell to expand.
    """
    return " ".join(
        (
            "ssh",
            "-i",
            _shell_path(key),
            "-p",
            str(int(port)),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            # ssh splits this option's value at whitespace unless it is in double quotes.
            _shell_path(known_hosts, before='UserKnownHostsFile="', after='"'),
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            shlex.quote(f"{user}@{host}"),
        )
    )


_LEADING_VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


def _shell_path(path: str, *, before: str = "", after: str = "") -> str:
    """``before + path + after`` as one double-quoted shell word, literal except for a
    ``$NAME`` at the start of ``path``. A ``%`` is doubled: ssh expands ``%`` tokens in
    both IdentityFile and UserKnownHostsFile."""
    variable = _LEADING_VARIABLE.match(path)
    head = variable.group() if variable else ""
    literal = path[len(head) :].replace("%", "%%")

    def escaped(text: str) -> str:
        return re.sub(r'([\\"$`])', r"\\\1", text)

    return f'"{escaped(before)}{head}{escaped(literal)}{escaped(after)}"'

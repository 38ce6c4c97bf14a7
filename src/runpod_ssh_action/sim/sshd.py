"""Pods' SSH: one real OpenSSH server per pod, and the end of everything a pod ran.

Every pod shares this host, so a pod's processes are found without a container:
sshd puts ``RUNPOD_POD_ID=<id>`` into every session (``SetEnv``), so each process a
pod's sessions ever started, detached or not, carries it in ``/proc/<pid>/environ``.
sshd's own processes cannot be found that way (sshd overwrites its environment
block with its process title), so stopping a pod kills sshd's whole process tree
first (connections included), then sweeps the process table for the tag.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from ..clock import Clock
from ..errors import ActionError

PRIVSEP_DIR = Path("/run/sshd")
POD_TAG = "RUNPOD_POD_ID"


def require_openssh(sshd_path: str, keygen_path: str) -> None:
    for path, package in ((sshd_path, "openssh-server"), (keygen_path, "openssh-client")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise ActionError(
                "The stand-in cannot start pods",
                f"its pods are real OpenSSH servers and {path} is not an executable",
                f"Install {package} (apt-get install -y {package}) or point SimConfig at it",
                code="SIM_NO_SSHD",
            )
    if os.geteuid() == 0:
        # sshd refuses to start as root without its privilege separation directory.
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)


def login_user() -> str:
    """The user pods accept: root when the stand-in runs as root (as on RunPod),
    else the current user, the only one a non-root sshd can log in."""
    return "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def ensure_unprivileged_user(name: str) -> str:
    """Create (once per host) a throw-away user for the non-root ssh path.

    Its password is set to ``*`` rather than left locked (``!``), because sshd
    without PAM refuses even key logins to locked accounts.
    """
    try:
        pwd.getpwnam(name)
    except KeyError:
        result = subprocess.run(
            ["useradd", "-m", "-s", "/bin/bash", name], capture_output=True, text=True, check=False
        )
        # 9: another stand-in created it between our look-up and useradd.
        if result.returncode not in (0, 9):
            raise ActionError(
                f"The stand-in could not create the user '{name}'",
                result.stderr.strip() or f"useradd exited with {result.returncode}",
                "Run the stand-in as root, or log in as the current user instead",
                code="SIM_USERADD",
            ) from None
    if _password_locked(name):
        subprocess.run(["usermod", "-p", "*", name], capture_output=True, check=True)
    return name


def _password_locked(name: str) -> bool:
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split(":")
        if fields[0] == name and len(fields) > 1:
            return fields[1].startswith("!")
    return False


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _quote(value: str) -> str:
    if '"' in value or "\n" in value:
        raise ValueError(f"cannot put {value!r} into an sshd_config")
    return f'"{value}"'


class PodSshd:
    """A pod's sshd: its host key, its ``authorized_keys`` and its session variables.

    ``directory`` must be readable by every login user (sshd reads
    ``authorized_keys`` as the user logging in). Times are the clock's ``monotonic``.
    """

    def __init__(
        self,
        *,
        pod_id: str,
        directory: Path,
        authorized_key: str,
        session_env: Mapping[str, str],
        clock: Clock,
        sshd_path: str,
        keygen_path: str,
        host: str = "127.0.0.1",
    ):
        self.pod_id = pod_id
        self.host = host
        self.directory = directory
        self.clock = clock
        self.sshd_path = sshd_path
        self.session_env = {POD_TAG: pod_id, **session_env}
        self.port: int | None = None
        self.listening_at: float | None = None
        self.first_connection_at: float | None = None
        self.first_login_at: float | None = None
        self.log: deque[str] = deque(maxlen=500)
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        directory.chmod(0o755)
        self.host_key = directory / "ssh_host_ed25519_key"
        subprocess.run(
            [
                keygen_path,
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"pod-{pod_id}",
                "-f",
                str(self.host_key),
            ],
            check=True,
            capture_output=True,
        )
        self.host_public_key = (directory / "ssh_host_ed25519_key.pub").read_text().strip()
        self.authorized_keys = directory / "authorized_keys"
        self.authorized_keys.write_text(
            authorized_key.strip() + "\n" if authorized_key.strip() else ""
        )
        self.authorized_keys.chmod(0o644)
        # Each pod gets a home of its own, as each real pod has its own container: the
        # bootstrap's files stay apart, and no login shell runs this host's own start-up
        # files (a shell's ~/.bashrc here may run tools that lock shared state).
        self.home = directory / "home"
        self.home.mkdir(exist_ok=True)
        self.home.chmod(0o1777)
        self.session_env["HOME"] = str(self.home)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, attempts: int = 5, timeout: float = 10.0) -> int:
        """Start sshd on a free port and return the port once it listens."""
        last = ""
        for _ in range(attempts):
            # The port is free when probed, but another process may take it before
            # sshd binds; sshd then exits and the next attempt picks another.
            port = _free_port(self.host)
            listening = self._launch(port)
            if listening.wait(timeout) and self.running:
                self.port = port
                return port
            last = "\n".join(list(self.log)[-5:])
            self.stop()
        raise ActionError(
            f"The stand-in could not start sshd for pod {self.pod_id}",
            last or "sshd did not report listening",
            "Check the sshd log lines above",
            code="SIM_SSHD",
        )

    def _launch(self, port: int) -> threading.Event:
        config = self.directory / "sshd_config"
        session_env = {**self.session_env, "RUNPOD_TCP_PORT_22": str(port)}
        set_env = " ".join(_quote(f"{k}={v}") for k, v in session_env.items())
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    f"ListenAddress {self.host}",
                    f"HostKey {_quote(str(self.host_key))}",
                    f"AuthorizedKeysFile {_quote(str(self.authorized_keys))}",
                    f"PidFile {_quote(str(self.directory / 'sshd.pid'))}",
                    "UsePAM no",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    # VERBOSE logs "Connection from", which times the first client.
                    "LogLevel VERBOSE",
                    "MaxStartups 100:30:200",
                    "Subsystem sftp internal-sftp",
                    f"SetEnv {set_env}",
                    "",
                ]
            )
        )
        listening = threading.Event()
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        process = subprocess.Popen(
            [self.sshd_path, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        reader = threading.Thread(
            target=self._read_log,
            args=(process, listening),
            name=f"sshd-{self.pod_id}",
            daemon=True,
        )
        with self._lock:
            self._process = process
        reader.start()
        return listening

    def _read_log(self, process: subprocess.Popen[str], listening: threading.Event) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.rstrip("\n")
            self.log.append(line)
            now = self.clock.monotonic()
            if line.startswith("Server listening on"):
                self.listening_at = now
                listening.set()
            elif line.startswith("Connection from") and self.first_connection_at is None:
                self.first_connection_at = now
            elif line.startswith("Accepted publickey") and self.first_login_at is None:
                self.first_login_at = now
        # Whoever waits for "listening" learns at once that sshd died instead.
        listening.set()

    def stop(self) -> None:
        """Kill sshd and every process under it: open connections die with the pod.

        Processes that left the tree (detached with ``nohup``/``setsid``) are for
        ``kill_tagged_processes``. The log reader ends by itself once the last
        holder of sshd's stderr is gone.
        """
        with self._lock:
            process = self._process
            self._process = None
        self.port = None
        if process is None:
            return
        tree = _descendants(process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def kill_tagged_processes(pod_id: str, clock: Clock, rounds: int = 50) -> int:
    """SIGKILL every process whose environment has ``RUNPOD_POD_ID=<pod_id>``.

    Sweeps until a scan finds none, since a process may fork while its siblings die.
    Returns how many processes were killed.
    """
    marker = f"{POD_TAG}={pod_id}".encode()
    me = os.getpid()
    killed = 0
    for _ in range(rounds):
        found = [pid for pid in _pids() if pid != me and marker in _environ(pid)]
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        clock.sleep(0.02)
    return killed


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for pid in _pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; the fields after it do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(pid)
    found: list[int] = []
    queue = [root]
    while queue:
        children = parents.get(queue.pop(), [])
        found.extend(children)
        queue.extend(children)
    return found


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []

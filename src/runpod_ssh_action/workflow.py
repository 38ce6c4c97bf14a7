"""The GitHub Actions runtime: outputs, state, masks, groups, annotations and summary.

Everything that writes the runner's files or prints a workflow command goes through a
``Workflow``; every line it prints passes the masker first. Formats follow
actions/toolkit (``@actions/core``) and the runner's parser:

* workflow commands escape data (``%``, CR, LF) and properties (also ``:`` and ``,``);
* ``GITHUB_OUTPUT`` / ``GITHUB_STATE`` take ``name=value`` lines, or for multiline
  values ``name<<DELIM`` / the value / ``DELIM`` with a random delimiter;
* the step summary is capped at 1 MiB per step.

The flavour is chosen once, from ``GITHUB_ACTIONS`` (the runner sets it to ``true``).
Outside Actions (the CLI in a terminal or another CI system) no workflow command is
printed at all: ``::add-mask::`` would echo every secret in clear, so values are only
redacted; annotations become ``error:``/``warning:`` lines, groups headings, outputs a
table (or one JSON object) at the end, and the summary plain text. State then lives in
the user's own state directory (``local_state``), named after ``GITHUB_RUN_ID``, so a
later ``post`` or ``stop`` reads what ``start`` saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import local_state
from .errors import ActionError
from .masking import Masker

SUMMARY_LIMIT = 1024 * 1024
SUMMARY_TRUNCATED = "\n\n> Summary truncated: GitHub keeps at most 1 MiB per step.\n"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Lines the runner would read as a command (it trims leading whitespace first).
_COMMAND_LIKE = re.compile(r"\s*(::|##\[)")


# Where the runner mounts a container action's directories (actions/runner
# src/Runner.Worker/Handlers/ContainerActionHandler.cs). HOME is the host's
# ``<RUNNER_TEMP>/_github_home``, mounted at /github/home by every runner version;
# RUNNER_TEMP itself is mounted at /github/runner_temp only from v2.331.0 (#4011 behind
# a feature flag, made unconditional by #4163), and before that the variable keeps the
# host's path, which does not exist in the container.
CONTAINER_TEMP = "/github/runner_temp"
CONTAINER_HOME = "/github/home"
HOST_HOME = "$RUNNER_TEMP/_github_home"


@dataclass(frozen=True)
class SharedFiles:
    """A directory this step writes and the job's later steps read: ``local`` as this
    process sees it, ``host`` as a ``run:`` step on the runner's machine names it."""

    local: Path
    host: str

    def host_view(self, text: str) -> str:
        """``text`` with every local path of the directory put as the host names it."""
        local = str(self.local)
        return text if self.host == local else text.replace(local, self.host)


def shared_files(env: Mapping[str, str]) -> SharedFiles:
    """The directory for files later steps need (the SSH key, ``known_hosts``).

    Not the workspace, which every runner mounts too: a self-hosted runner keeps it
    between jobs, and an artifact or cache step of the job may upload what lies in it.
    The runner empties its temp directory, HOME's parent, at the start and end of a job.
    """
    temp = env.get("RUNNER_TEMP") or tempfile.gettempdir()
    if temp == CONTAINER_TEMP or temp.startswith(CONTAINER_TEMP + "/"):
        return SharedFiles(Path(temp), "$RUNNER_TEMP" + temp[len(CONTAINER_TEMP) :])
    if env.get("HOME") == CONTAINER_HOME:
        # A container action on a runner before v2.331.0: RUNNER_TEMP is not mounted.
        return SharedFiles(Path(CONTAINER_HOME), HOST_HOME)
    if env.get("HOME", "").startswith("/github/"):
        raise ActionError(
            "Cannot hand the SSH key to later steps",
            f"this container action sees HOME={env.get('HOME')} and RUNNER_TEMP={temp}, a "
            "layout of the runner's mounts this action does not know, so a path it gave "
            "out could name a file the host never sees",
            "Run the action on a GitHub-hosted runner or a self-hosted runner of a current "
            "version, and report this with the runner's version",
        )
    return SharedFiles(Path(temp), temp)


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def markdown_text(text: str) -> str:
    """Plain text made inert in Markdown (no links, HTML, tables or emphasis)."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", text).replace("\n", " ")


def format_file_command(name: str, value: str, delimiter: str) -> str:
    """One entry of a GITHUB_OUTPUT / GITHUB_STATE file, as the runner parses it."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid output or state name")
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    if delimiter in value:
        raise ActionError(
            f"Could not write {name}",
            "the value contains the file's random delimiter",
            "Report this as a bug",
        )
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def parse_file_commands(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT / GITHUB_STATE file back, the runner's way (last one wins)."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        head, eq, value = line.partition("=")
        if eq and "<<" not in head:
            values[head] = value
            continue
        name, heredoc, delimiter = line.partition("<<")
        if not heredoc:
            raise ValueError(f"line {i} is neither name=value nor name<<DELIMITER")
        body: list[str] = []
        while i < len(lines) and lines[i] != delimiter:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"delimiter {delimiter!r} of {name!r} is never closed")
        i += 1
        values[name] = "\n".join(body)
    return values


def in_actions(env: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job. The runner sets GITHUB_ACTIONS=true for every
    process it starts (actions/runner src/Runner.Sdk/ProcessInvoker.cs) and passes it to
    a container action with ``docker run -e`` (src/Runner.Worker/Container/
    DockerCommandManager.cs, DockerRun)."""
    return env.get("GITHUB_ACTIONS") == "true"


def plain_text(markdown: str) -> str:
    """The summary's Markdown as a terminal shows it: no heading marks, emphasis,
    code ticks or escapes."""
    text = re.sub(r"(?ms)^```.*?^```\n?", "", markdown)  # diagrams (mermaid) stay out
    text = re.sub(r"(?m)^#+ ", "", text)
    text = re.sub(r"\*\*|`", "", text)
    return re.sub(r"\\(.)", r"\1", text)


class Workflow:
    def __init__(
        self,
        env: Mapping[str, str],
        out: TextIO,
        *,
        outputs_to: TextIO | None = None,
        json_outputs: bool = False,
    ):
        self._env = env
        self._out = out
        self.in_actions = in_actions(env)
        # Outside Actions outputs are shown once, at the end, on their own stream.
        self._outputs: dict[str, str] = {}
        self._outputs_to = outputs_to or out
        self._json_outputs = json_outputs
        # Reentrant: a signal handler may log while the main thread holds the lock.
        self._lock = threading.RLock()
        self.masker = Masker(announce=self._announce_mask)
        self.is_debug = env.get("RUNNER_DEBUG") == "1"
        self._saved_state: dict[str, str] = {}
        self._fallback_state: dict[str, str] | None = None
        self._fallback_truncated = False

    # --- masking ---

    def add_mask(self, value: str) -> None:
        """Mask ``value`` (and each of its lines) in this log and in the runner's."""
        self.masker.add(value)

    def _announce_mask(self, value: str) -> None:
        # The one line that must not be redacted: it is how the runner learns the value.
        # Outside Actions nobody reads it, and it would put the secret on the screen.
        if self.in_actions:
            self._write(f"::add-mask::{escape_data(value)}")

    # --- files for later steps ---

    def shared_files(self) -> SharedFiles:
        """Where this step leaves files for the job's later steps; see ``SharedFiles``."""
        return shared_files(self._env)

    def hand_over(self, *paths: Path) -> None:
        """Give files this step leaves for later steps to the runner's own user.

        A container action runs as root, but the job's later ``run:`` steps run as the
        runner's user, who could not read a root-owned 0600 key. The owner of the
        directory the runner mounts for later steps is that user; outside a container
        nothing changes hands.
        """
        if os.geteuid() != 0:
            return
        root = self.shared_files().local
        if not root.is_dir():
            return
        owner = root.stat()
        for path in paths:
            if path.exists() and (path.stat().st_uid, path.stat().st_gid) != (
                owner.st_uid,
                owner.st_gid,
            ):
                os.chown(path, owner.st_uid, owner.st_gid)

    # --- printing ---

    def info(self, line: str) -> None:
        for part in line.splitlines() or [""]:
            text = self.masker.redact(part)
            # Text from outside (an API message, a pod's log) must never become a
            # workflow command: a prefix the runner does not trim disarms it.
            self._write("| " + text if _COMMAND_LIKE.match(text) else text)

    def debug(self, message: str) -> None:
        self._command("debug", message)

    def notice(self, message: str, title: str | None = None) -> None:
        self._command("notice", message, title)

    def warning(self, message: str, title: str | None = None) -> None:
        self._command("warning", message, title)

    def error(self, message: str, title: str | None = None) -> None:
        self._command("error", message, title)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if not self.in_actions:
            self.info(f"== {title}")
            yield
            return
        self._command("group", title)
        try:
            yield
        finally:
            self._command("endgroup", "")

    def _command(self, name: str, message: str, title: str | None = None) -> None:
        if not self.in_actions:
            if name != "debug" or self.is_debug:
                self.info(f"{name}: {message}" if name in ("error", "warning") else message)
            return
        props = f" title={escape_property(self.masker.redact(title))}" if title else ""
        self._write(f"::{name}{props}::{escape_data(self.masker.redact(message))}")

    def _write(self, line: str) -> None:
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    # --- outputs ---

    def set_output(self, name: str, value: str) -> None:
        if self.masker.redact(value) != value:
            raise ActionError(
                f"Refused to set output {name}",
                "its value contains a secret",
                "Report this as a bug",
            )
        entry = format_file_command(name, value, _delimiter())
        path = self._env.get("GITHUB_OUTPUT")
        if path:
            self._append(Path(path), entry)
        elif not self.in_actions:
            with self._lock:
                self._outputs[name] = value
        else:
            for line in entry.rstrip("\n").split("\n"):
                self._write(self.masker.redact(line))

    def finish(self) -> None:
        """Outside Actions: show the outputs set, as a table or one JSON object."""
        with self._lock:
            outputs, self._outputs = self._outputs, {}
        if self.in_actions or not (outputs or self._json_outputs):
            return
        if self._json_outputs:
            text = json.dumps(outputs, indent=2)
        else:
            width = max(len(name) for name in outputs) + 2
            rows = ["Outputs:"]
            for name, value in outputs.items():
                lines = value.splitlines() or [""]
                rows.append(f"  {name.ljust(width)}{lines[0]}")
                rows += [f"  {'':{width}}{line}" for line in lines[1:]]
            text = "\n".join(rows)
        with self._lock:
            self._outputs_to.write(self.masker.redact(text) + "\n")
            self._outputs_to.flush()

    # --- state ---

    def save_state(self, name: str, value: str) -> None:
        """Keep ``value`` for the post step (where it arrives as ``STATE_<name>``)."""
        entry = format_file_command(name, value, _delimiter())
        with self._lock:
            self._saved_state[name] = value
            path = self._env.get("GITHUB_STATE")
            if path:
                self._append(Path(path), entry)
                return
            # A new step's state replaces the last one's, as in Actions.
            fresh = not self._fallback_truncated
            local_state.append_private(self._fallback_path(), entry, fresh=fresh)
            self._fallback_truncated = True

    def state(self, name: str) -> str | None:
        """State saved by this process, else by the main step (``STATE_<name>``), else
        the terminal fallback file."""
        with self._lock:
            if name in self._saved_state:
                return self._saved_state[name]
        value = self._env.get(f"STATE_{name}")
        if value is not None:
            return value
        if self._env.get("GITHUB_STATE"):
            return None
        with self._lock:
            if self._fallback_state is None:
                self._fallback_state = self._read_fallback_state()
            return self._fallback_state.get(name)

    def _fallback_path(self) -> Path:
        run = re.sub(r"[^0-9A-Za-z_-]", "_", self._env.get("GITHUB_RUN_ID") or "local")
        return local_state.state_dir(self._env) / f"state-{run}.env"

    def _read_fallback_state(self) -> dict[str, str]:
        """Raises ActionError for a file that is not the user's own (local_state)."""
        text = local_state.read_private(self._fallback_path())
        try:
            return parse_file_commands(text or "")
        except ValueError:
            return {}

    # --- summary ---

    def summary(self, markdown: str) -> None:
        """Append Markdown to the step summary; past 1 MiB it is cut, with a note."""
        text = self.masker.redact(markdown)
        if not text.endswith("\n"):
            text += "\n"
        path_name = self._env.get("GITHUB_STEP_SUMMARY")
        if not path_name:
            self.info(plain_text(text).rstrip("\n") if not self.in_actions else text.rstrip("\n"))
            return
        path = Path(path_name)
        with self._lock:
            used = path.stat().st_size if path.exists() else 0
            data = text.encode("utf-8")
            if used + len(data) > SUMMARY_LIMIT:
                note = SUMMARY_TRUNCATED.encode("utf-8")
                room = SUMMARY_LIMIT - used - len(note)
                if room < 0:
                    return
                data = data[:room].decode("utf-8", errors="ignore").encode("utf-8") + note
            with path.open("ab") as handle:
                handle.write(data)

    # --- files ---

    def _append(self, path: Path, entry: str) -> None:
        with self._lock, path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(entry)


def _delimiter() -> str:
    return f"ghadelimiter_{uuid.uuid4()}"

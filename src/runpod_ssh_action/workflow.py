"""The GitHub Actions runtime: outputs, state, masks, groups, annotations and summary.

Everything that writes the runner's files or prints a workflow command goes through a
``Workflow``; every line it prints passes the masker first. Formats follow
actions/toolkit (``@actions/core``) and the runner's parser:

* workflow commands escape data (``%``, CR, LF) and properties (also ``:`` and ``,``);
* ``GITHUB_OUTPUT`` / ``GITHUB_STATE`` take ``name=value`` lines, or for multiline
  values ``name<<DELIM`` / the value / ``DELIM`` with a random delimiter;
* the step summary is capped at 1 MiB per step.

Outside Actions (no ``GITHUB_OUTPUT`` etc., e.g. the CLI in a terminal) outputs are
printed as ``name=value`` lines (the same file format, on stdout), the summary is
printed as is, and state is kept in a file under ``RUNNER_TEMP`` (or the system temp
directory) named after ``GITHUB_RUN_ID``, so a later ``post`` or ``stop`` command in
the same shell reads what ``start`` saved. That file is readable by its owner only.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

from .errors import ActionError
from .masking import Masker

SUMMARY_LIMIT = 1024 * 1024
SUMMARY_TRUNCATED = "\n\n> Summary truncated: GitHub keeps at most 1 MiB per step.\n"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Lines the runner would read as a command (it trims leading whitespace first).
_COMMAND_LIKE = re.compile(r"\s*(::|##\[)")


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


class Workflow:
    def __init__(self, env: Mapping[str, str], out: TextIO):
        self._env = env
        self._out = out
        # Reentrant: a signal handler may log while the main thread holds the lock.
        self._lock = threading.RLock()
        self.masker = Masker(announce=self._announce_mask)
        self.is_debug = env.get("RUNNER_DEBUG") == "1"
        self._saved_state: dict[str, str] = {}
        self._fallback_state = self._read_fallback_state()
        self._fallback_truncated = False

    # --- masking ---

    def add_mask(self, value: str) -> None:
        """Mask ``value`` (and each of its lines) in this log and in the runner's."""
        self.masker.add(value)

    def _announce_mask(self, value: str) -> None:
        # The one line that must not be redacted: it is how the runner learns the value.
        self._write(f"::add-mask::{escape_data(value)}")

    # --- files for later steps ---

    def hand_over(self, *paths: Path) -> None:
        """Give files this step leaves for later steps to the runner's own user.

        A container action runs as root, but the job's later ``run:`` steps run as the
        runner's user, who could not read a root-owned 0600 key. The owner of
        ``RUNNER_TEMP`` is that user; outside a container nothing changes hands.
        """
        temp = self._env.get("RUNNER_TEMP")
        if not temp or os.geteuid() != 0:
            return
        owner = Path(temp).stat()
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
        self._command("group", title)
        try:
            yield
        finally:
            self._command("endgroup", "")

    def _command(self, name: str, message: str, title: str | None = None) -> None:
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
        else:
            for line in entry.rstrip("\n").split("\n"):
                self._write(self.masker.redact(line))

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
            fallback = self._fallback_path()
            # A new step's state replaces the last one's, as in Actions.
            if not self._fallback_truncated:
                fallback.parent.mkdir(parents=True, exist_ok=True)
                fallback.unlink(missing_ok=True)
                self._fallback_truncated = True
            self._append(fallback, entry, private=True)

    def state(self, name: str) -> str | None:
        """State saved by this process, else by the main step (``STATE_<name>``), else
        the terminal fallback file."""
        with self._lock:
            if name in self._saved_state:
                return self._saved_state[name]
        value = self._env.get(f"STATE_{name}")
        if value is not None:
            return value
        return self._fallback_state.get(name)

    def _fallback_path(self) -> Path:
        directory = self._env.get("RUNNER_TEMP") or tempfile.gettempdir()
        run = re.sub(r"[^0-9A-Za-z_-]", "_", self._env.get("GITHUB_RUN_ID") or "local")
        return Path(directory) / f"runpod-ssh-action-state-{run}.env"

    def _read_fallback_state(self) -> dict[str, str]:
        if self._env.get("GITHUB_STATE"):
            return {}
        try:
            return parse_file_commands(self._fallback_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    # --- summary ---

    def summary(self, markdown: str) -> None:
        """Append Markdown to the step summary; past 1 MiB it is cut, with a note."""
        text = self.masker.redact(markdown)
        if not text.endswith("\n"):
            text += "\n"
        path_name = self._env.get("GITHUB_STEP_SUMMARY")
        if not path_name:
            self.info(text.rstrip("\n"))
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

    def _append(self, path: Path, entry: str, *, private: bool = False) -> None:
        with self._lock:
            if private:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8", newline="") as handle:
                    handle.write(entry)
            else:
                with path.open("a", encoding="utf-8", newline="") as handle:
                    handle.write(entry)


def _delimiter() -> str:
    return f"ghadelimiter_{uuid.uuid4()}"

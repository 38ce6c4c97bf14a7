"""Where the CLI keeps its files outside GitHub Actions: one directory of the user's own.

A terminal ``start`` saves what a later ``stop`` or ``post`` needs (pod ids, its run id)
as a step saves state for its post step, and leaves the generated SSH key for the user.
Outside Actions there is no ``GITHUB_STATE`` and no ``RUNNER_TEMP``; a shared directory
such as ``/tmp`` would let another local user plant pod ids for ``post`` to terminate, or
a directory our key lands in. So everything lives under ``$XDG_STATE_HOME`` (default
``~/.local/state``, per the XDG Base Directory specification) in a ``0700`` directory,
and a state file is read only when it is a regular file of the caller's with mode
``0600``, opened without following a link.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import ActionError

APP = "runpod-ssh-action"


def state_dir(env: Mapping[str, str]) -> Path:
    """The per-user directory, made (mode 0700) if missing and checked if present."""
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/state")
    path = Path(base) / APP
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise _refused(path, info, "a directory of your own with mode 0700")
    return path


def read_private(path: Path) -> str | None:
    """The text of a state file, None when there is none; refuses anyone else's file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(path, path.lstat(), "a regular file, not a link") from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        _check_file(path, os.fstat(fd))
        return handle.read().decode("utf-8")


def append_private(path: Path, text: str, *, fresh: bool = False) -> None:
    """Append to a state file of the caller's (mode 0600); ``fresh`` starts it anew."""
    if fresh:
        path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    fd = os.open(path, flags | (os.O_EXCL if fresh else 0), 0o600)
    with os.fdopen(fd, "a", encoding="utf-8", newline="") as handle:
        _check_file(path, os.fstat(fd))
        handle.write(text)


def _check_file(path: Path, info: os.stat_result) -> None:
    if (
        not stat.S_ISREG(info.st_mode)
        or info.st_uid != os.getuid()
        or stat.S_IMODE(info.st_mode) != 0o600
    ):
        raise _refused(path, info, "a regular file of your own with mode 0600")


def _refused(path: Path, info: os.stat_result, wanted: str) -> ActionError:
    return ActionError(
        f"Refused to use {path}",
        f"it belongs to uid {info.st_uid} with mode {stat.S_IMODE(info.st_mode):04o}, and "
        f"only {wanted} is trusted to say which pods to terminate",
        f"Remove {path} (or set XDG_STATE_HOME to a directory of your own)",
        code="UNSAFE_STATE",
    )

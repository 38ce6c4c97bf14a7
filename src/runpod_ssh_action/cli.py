"""The command line, and the container's entry points.

``runpod-ssh-action start|stop|post|reap|gpus|status [--<input> VALUE ...]`` takes every
action input as a flag of the same name; flags win over ``INPUT_*`` variables and go
through the same checks. In the action's container, ``runpod-ssh-action-main`` runs the
step (what it does comes from the ``mode`` input) and ``runpod-ssh-action-post`` the
post step.

Order matters: SIGINT and SIGTERM are taken over first, before the heavy imports, so
from then on a cancel only sets an event (never a KeyboardInterrupt traceback), which
every wait polls, and cleanup runs inside the runner's cancel window (PID 1 in a container gets
no default signal handlers, so without these it would not even notice); inputs are
checked before anything is spent; secrets are masked before anything else is printed.
This module therefore imports nothing heavy at the top: the console scripts load it
before ``main`` can take the signals over.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from . import __version__
from .errors import ActionError

if TYPE_CHECKING:
    from .settings import SettingsError
    from .workflow import Workflow

PROG = "runpod-ssh-action"
# A start cancelled before it began has rented nothing; the commands that end things
# still run, inside the cancel window, as they would for a later cancel.
CANCELLED_BEFORE_START = (
    "The step was cancelled before it started: the runner sent a stop signal. Nothing was rented."
)


@dataclass(frozen=True)
class CliArgs:
    command: str
    overrides: dict[str, str] = field(default_factory=dict)


def _parser() -> argparse.ArgumentParser:
    from .settings import COMMANDS, INPUTS  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Rent RunPod GPU pods with SSH and an ephemeral GitHub Actions runner.",
        epilog="Every flag can also be given as an INPUT_<NAME> variable "
        "(e.g. INPUT_RUNPOD-API-KEY). Prefer that for secrets: flags show in process lists.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "command",
        choices=("main", *COMMANDS),
        help="main runs what the mode input says; post is the post step of a start",
    )
    for spec in INPUTS:
        parser.add_argument(
            f"--{spec.name}",
            dest=spec.field,
            metavar="VALUE",
            help=(
                spec.description + (f" Default: {spec.default}." if spec.default else "")
            ).replace("%", "%%"),
        )
    return parser


def parse_args(argv: Sequence[str]) -> CliArgs:
    """Flags by input name; only those given. Exits 2 on a usage error (argparse's way)."""
    from .settings import INPUTS  # noqa: PLC0415

    parser = _parser()
    namespace = parser.parse_args(list(argv))
    overrides = {
        spec.name: value for spec in INPUTS if (value := getattr(namespace, spec.field)) is not None
    }
    command: str = namespace.command
    if command in ("start", "stop", "reap"):
        given = overrides.get("mode")
        if given is not None and given.lower() != command:
            parser.error(f"--mode {given} contradicts the command {command}")
        overrides["mode"] = command
    return CliArgs(command, overrides)


@contextmanager
def _cancel_on_signals(cancelled: threading.Event) -> Iterator[None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        cancelled.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None, cancelled: threading.Event | None = None) -> int:
    """Run one command. ``cancelled`` is an event a launcher may have set on a signal
    that came before this function could take the signals over."""
    cancelled = cancelled or threading.Event()
    with _cancel_on_signals(cancelled):
        return _run(sys.argv[1:] if argv is None else argv, cancelled)


def _run(argv: Sequence[str], cancelled: threading.Event) -> int:
    from .settings import SettingsError, load_settings  # noqa: PLC0415
    from .workflow import Workflow  # noqa: PLC0415

    args = parse_args(argv)
    workflow = Workflow(os.environ, sys.stdout)
    try:
        settings = load_settings(os.environ, args.overrides, command=args.command)
    except SettingsError as exc:
        if args.command == "post":
            # The main step failed on the same inputs before it spent anything, and
            # has said so already: the post step has nothing to clean up.
            workflow.info("Inputs are invalid (see the main step); nothing to clean up.")
            return 0
        _report_invalid(workflow, exc)
        return 1
    for secret in settings.secret_values():
        workflow.add_mask(secret)
    for note in settings.advisories():
        workflow.warning(note)

    command = settings.mode if args.command == "main" else args.command
    try:
        # Imported here: the lifecycle pulls in every API client, and a bad input
        # should be reported without any of that.
        from .lifecycle import run  # noqa: PLC0415

        if command == "start" and cancelled.is_set():
            workflow.error(CANCELLED_BEFORE_START)
            return 1
        return run(command, settings, workflow, cancelled)
    except ActionError as exc:
        workflow.error(exc.sentence())
        return 1
    except Exception as exc:
        workflow.error(f"Unexpected {type(exc).__name__}: {exc}. Please report this bug.")
        workflow.debug("".join(traceback.format_exception(exc)))
        return 1


def _report_invalid(workflow: Workflow, exc: SettingsError) -> None:
    from .workflow import markdown_text  # noqa: PLC0415

    for error in exc.errors:
        workflow.error(error.sentence(), title="Invalid input")
    workflow.summary(
        "### runpod-ssh-action: invalid inputs\n\nNothing was started.\n\n"
        + "".join(f"- {markdown_text(e.sentence())}\n" for e in exc.errors)
    )


def main_step() -> int:
    """The container's entrypoint (action.yml ``runs.entrypoint``)."""
    return main(["main", *sys.argv[1:]])


def post_step() -> int:
    """The container's post entrypoint (action.yml ``runs.post-entrypoint``)."""
    return main(["post", *sys.argv[1:]])

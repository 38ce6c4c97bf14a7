"""The command line, and the container's entry points.

``runpod-ssh-action start|stop|post|reap|gpus|status [--<input> VALUE ...]`` takes every
action input as a flag of the same name; flags win over ``INPUT_*`` variables and go
through the same checks. In the action's container, ``runpod-ssh-action-main`` runs the
step (what it does comes from the ``mode`` input) and ``runpod-ssh-action-post`` the
post step.

Order matters: inputs are checked before anything is spent; secrets are masked before
anything else is printed; SIGINT and SIGTERM only set an event, which every wait polls,
so cleanup runs inside the runner's cancel window (PID 1 in a container gets no default
signal handlers, so without these it would not even notice).
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

from . import __version__
from .errors import ActionError
from .settings import COMMANDS, INPUTS, SettingsError, load_settings
from .workflow import Workflow, markdown_text

PROG = "runpod-ssh-action"


@dataclass(frozen=True)
class CliArgs:
    command: str
    overrides: dict[str, str] = field(default_factory=dict)


def _parser() -> argparse.ArgumentParser:
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
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
    cancelled = threading.Event()
    with _cancel_on_signals(cancelled):
        try:
            # Imported here: the lifecycle pulls in every API client, and a bad input
            # should be reported without any of that.
            from .lifecycle import run  # noqa: PLC0415

            return run(command, settings, workflow, cancelled)
        except ActionError as exc:
            workflow.error(exc.sentence())
            return 1
        except Exception as exc:
            workflow.error(f"Unexpected {type(exc).__name__}: {exc}. Please report this bug.")
            workflow.debug("".join(traceback.format_exception(exc)))
            return 1


def _report_invalid(workflow: Workflow, exc: SettingsError) -> None:
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

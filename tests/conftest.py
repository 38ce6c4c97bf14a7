"""What the whole suite shares: how it spreads over pytest-xdist workers, the progress
lines of long tests, and the reliability table printed at the end.

Under xdist the workers run the tests and the controller prints the summary, so a worker
ships its share of the table in ``workeroutput`` and the controller adds the shares up
when the worker goes down (pytest-xdist src/xdist/remote.py and dsession.py).
A worker's stderr is the terminal's (xdist leaves it alone), so progress lines are
written to a copy of it taken before any test captures it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

import pytest

if TYPE_CHECKING:
    from .reliability.support import Tally

TALLY = pytest.StashKey["Tally"]()
TERMINAL = pytest.StashKey["Terminal"]()
WATCH = pytest.StashKey["Watch"]()
SHIPPED_TALLY = "rpsa_tally"
# Image builds and Podman's storage are the host's: container tests share one worker.
PODMAN_GROUP = "podman"
# The files of the longest tests (a minute or more each with CI's budgets).
LONGEST = frozenset(
    {
        "test_random_schedules.py",
        "test_shared_key.py",
        "test_fault_matrix.py",
        "test_cancellation.py",
        "test_bench_smoke.py",
    }
)
# A test silent for this long gets a line saying it is still running.
QUIET_SECONDS = 60.0


class Terminal:
    """Lines to the terminal from any thread, past pytest's capture of each test."""

    def __init__(self) -> None:
        self._stream: TextIO = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
        self._lock = threading.Lock()
        self._worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self.last_line = time.monotonic()

    def line(self, text: str) -> None:
        prefix = f"[{self._worker}] " if self._worker else ""
        with self._lock:
            # Starts on a line of its own: pytest's progress dots have no newline yet.
            self._stream.write(f"\n{prefix}{text}\n")
            self.last_line = time.monotonic()

    def close(self) -> None:
        self._stream.close()


class Progress:
    """``label: done/total`` every few cases of a long test, and at its end."""

    def __init__(self, terminal: Terminal, label: str, total: int, unit: str) -> None:
        self._terminal = terminal
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.failed = 0
        # At most ten cases between two lines, and about five lines a test.
        self._every = min(10, max(1, total // 5))

    def advance(self, count: int = 1, *, failed: int = 0) -> None:
        before = self.done // self._every
        self.done += count
        self.failed += failed
        if self.done // self._every > before or self.done == self.total:
            failures = f", {self.failed} failed" if self.failed else ""
            self._terminal.line(f"{self.label}: {self.done}/{self.total} {self.unit}{failures}")


@pytest.fixture
def progress(request: pytest.FixtureRequest) -> Callable[..., Progress]:
    """``progress(label, total, unit="cases")`` makes a ``Progress`` for this test."""
    terminal = request.config.stash[TERMINAL]

    def start(label: str, total: int, unit: str = "cases") -> Progress:
        return Progress(terminal, label, total, unit)

    return start


# --- still running: a line for a test that has been quiet for a minute ---------------


class Watch:
    """Says which test is running whenever nothing was written for ``QUIET_SECONDS``.

    Only ever writes; no test reads the clock through it.
    """

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.current: tuple[str, float] | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pytest-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(QUIET_SECONDS / 4):
            current = self.current
            if current is None:
                continue
            nodeid, began = current
            now = time.monotonic()
            if now - max(began, self.terminal.last_line) >= QUIET_SECONDS:
                self.terminal.line(f"still running {nodeid} ({(now - began) / 60:.0f} min)")

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_controller(session.config):
        return
    # Capturing is suspended between tests, so this is still the terminal's stderr.
    terminal = Terminal()
    session.config.stash[TERMINAL] = terminal
    session.config.stash[WATCH] = Watch(terminal)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    watch = item.config.stash.get(WATCH, None)
    if watch is not None:
        watch.current = (item.nodeid, time.monotonic())
    try:
        return (yield)
    finally:
        if watch is not None:
            watch.current = None


def _is_controller(config: pytest.Config) -> bool:
    """The xdist controller runs no test (a run without xdist runs its own)."""
    return config.pluginmanager.hasplugin("dsession")


# --- where tests run, and in which order ----------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Before xdist's own hook, which reads the groups from the markers (pytest-xdist
    # src/xdist/remote.py, WorkerInteractor.pytest_collection_modifyitems).
    if config.pluginmanager.hasplugin("xdist"):
        for item in items:
            if item.get_closest_marker("container"):
                item.add_marker(pytest.mark.xdist_group(PODMAN_GROUP))
    # The longest first, so that no worker starts one as the others run out of work.
    items.sort(key=_weight)


def _weight(item: pytest.Item) -> int:
    if item.get_closest_marker("container"):
        return 0
    if item.path.name in LONGEST:
        return 1
    if item.get_closest_marker("slow") or "reliability" in item.path.parts:
        return 2
    return 3


# --- the reliability table -----------------------------------------------------------


def tally_of(config: pytest.Config) -> Tally:
    if TALLY not in config.stash:
        # Imported here: only a run that tallies pays for the stand-in's imports.
        from .reliability.support import Tally

        config.stash[TALLY] = Tally()
    return config.stash[TALLY]


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if WATCH in config.stash:
        config.stash[WATCH].stop()
        config.stash[TERMINAL].close()
    shipped: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if shipped is not None and TALLY in config.stash:
        shipped[SHIPPED_TALLY] = {
            what: [row.tried, row.held, dict(row.notes)]
            for what, row in config.stash[TALLY].rows.items()
        }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    rows = getattr(node, "workeroutput", {}).get(SHIPPED_TALLY)
    if not rows:
        return
    from .reliability.support import Row

    tally = tally_of(node.config)
    for what, (tried, held, notes) in rows.items():
        row = tally.rows.setdefault(what, Row())
        row.tried += tried
        row.held += held
        row.notes.update(notes)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tally = terminalreporter.config.stash.get(TALLY, None)
    if tally is None or not tally.rows:
        return
    from .reliability.support import NIGHTLY

    mode = "nightly cross product" if NIGHTLY else "CI subset (RPSA_NIGHTLY=1 runs all)"
    terminalreporter.section(f"reliability: what held ({mode})")
    for line in tally.lines():
        terminalreporter.write_line(line)

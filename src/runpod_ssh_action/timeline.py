"""When each phase of each pod ended, for the job summary and the benchmarks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .clock import Clock

PHASES = ("created", "booted", "ssh", "bootstrapped", "online")


@dataclass
class Timeline:
    clock: Clock
    start: float
    marks: dict[str, dict[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark(self, pod_id: str, phase: str) -> None:
        with self._lock:
            self.marks.setdefault(pod_id, {})[phase] = self.clock.monotonic() - self.start

    def phases(self, pod_id: str) -> list[tuple[str, float, float]]:
        """(phase, began, ended) in seconds since the step began; each phase begins
        where the previous one ended."""
        with self._lock:
            marks = dict(self.marks.get(pod_id, {}))
        spans: list[tuple[str, float, float]] = []
        began = 0.0
        for phase in PHASES:
            if phase in marks:
                spans.append((phase, began, marks[phase]))
                began = marks[phase]
        return spans

"""What this step has made, recorded the moment it exists.

Every pod id and runner id goes into the ledger as soon as an API call returns it,
and into ``GITHUB_STATE`` at once, so that teardown (on failure, on a cancel signal,
or in the post step of a later process) walks one list. Once teardown has begun the
ledger is closed: a create that returns after that point is told so and its pod is
ended by the caller straight away, instead of slipping past the cleanup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Ledger:
    save: Callable[[str, str], None]
    pods: list[str] = field(default_factory=list)
    runners: list[int] = field(default_factory=list)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_pod(self, pod_id: str) -> bool:
        """Record a new pod; ``False`` means teardown has begun and the caller must
        end this pod itself."""
        with self._lock:
            if pod_id not in self.pods:
                self.pods.append(pod_id)
                self.save("pods", ",".join(self.pods))
            return not self.closed

    def add_runner(self, runner_id: int) -> bool:
        with self._lock:
            if runner_id not in self.runners:
                self.runners.append(runner_id)
                self.save("runners", ",".join(str(r) for r in self.runners))
            return not self.closed

    def close(self) -> tuple[list[str], list[int]]:
        """Stop taking new entries silently; return what must be torn down."""
        with self._lock:
            self.closed = True
            return list(self.pods), list(self.runners)


def parse_ids(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]

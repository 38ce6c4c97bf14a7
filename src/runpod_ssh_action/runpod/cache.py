"""An on-disk cache of ``gpuTypes`` answers: they change slowly and cost a call per start.

One JSON file holds an entry per (GPU count, GPU ids) key, each stamped with the time
it was fetched (from the injected clock). A cache is only ever a shortcut: a file that
is missing, unreadable, corrupt or of another shape is ignored and overwritten, and a
failed write is dropped. Writes go to a temporary file in the same directory and are
moved into place with ``os.replace``, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..clock import Clock

CACHE_TTL = timedelta(hours=1)
_FORMAT = 1


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runpod"


def cache_key(gpu_count: int, ids: Sequence[str] | None) -> str:
    return f"{gpu_count}|{','.join(sorted(set(ids))) if ids is not None else '*'}"


class GpuTypeCache:
    def __init__(self, path: Path, clock: Clock, ttl: timedelta = CACHE_TTL):
        self.path = path
        self._clock = clock
        self._ttl = ttl

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The cached raw ``gpuTypes`` list for ``key`` if fresh, else ``None``."""
        entry = self._entries().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            fetched = datetime.fromisoformat(entry["fetched_at"])
        except (KeyError, TypeError, ValueError):
            return None
        age = self._clock.now() - fetched if fetched.tzinfo else None
        items = entry.get("gpu_types")
        if age is None or not timedelta(0) <= age < self._ttl or not isinstance(items, list):
            return None
        if not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
            return None
        return items

    def put(self, key: str, gpu_types: list[dict[str, Any]]) -> None:
        now = self._clock.now()
        entries = {k: v for k, v in self._entries().items() if k != key and self._fresh_at(v, now)}
        entries[key] = {"fetched_at": now.isoformat(), "gpu_types": gpu_types}
        with contextlib.suppress(OSError):
            self._write({"format": _FORMAT, "entries": entries})

    def _fresh_at(self, entry: Any, now: datetime) -> bool:
        try:
            return bool(now - datetime.fromisoformat(entry["fetched_at"]) < self._ttl)
        except (KeyError, TypeError, ValueError):
            return False

    def _entries(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".gpu_types.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

"""Secrets known to this process, and the one place text is scrubbed of them.

A ``Masker`` is handed to everything that prints or logs. ``add`` registers a value
and tells the workflow runtime at once (``::add-mask::``), before the value can be
printed anywhere; ``redact`` replaces every registered value in a text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

MASK = "***"
FIELD_MASK = "[MASKED]"

# Keys whose values are secret wherever they appear in a logged structure.
_SENSITIVE_KEY = re.compile(
    r"(^authorization$|token|secret|password|private|api[-_]?key|jit|encoded_jit_config|"
    r"^value$)",
    re.IGNORECASE,
)

# PEM armour lines ("-----BEGIN PRIVATE KEY-----") are public text: masking them would
# only blank out every mention of a key format in the log.
_ARMOR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")

# Shorter values would mask ordinary words in the log and hide nothing of worth.
_MIN_SECRET_LENGTH = 4


class Masker:
    def __init__(self, announce: Callable[[str], None] | None = None):
        self._announce = announce
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        """Register a secret (and each of its lines, as the runner masks per line)."""
        if not value:
            return
        parts = {value.strip()} | {line.strip() for line in value.splitlines()}
        fresh = [p for p in parts if len(p) >= _MIN_SECRET_LENGTH and not _ARMOR.fullmatch(p)]
        with self._lock:
            fresh = [p for p in fresh if p not in self._secrets]
            self._secrets.update(fresh)
        if self._announce:
            for part in sorted(fresh, key=len, reverse=True):
                self._announce(part)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def redact_structure(self, value: Any) -> Any:
        """A copy of a JSON-like value fit for a log: secret fields masked by name,
        registered secrets masked wherever they occur."""
        if isinstance(value, dict):
            return {
                k: (_masked(v) if _SENSITIVE_KEY.search(str(k)) else self.redact_structure(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.redact_structure(v) for v in value]
        if isinstance(value, str):
            return self.redact(value)
        return value

    def __contains__(self, value: str) -> bool:
        with self._lock:
            return value in self._secrets


def _masked(value: Any) -> str:
    # A value already masked by its producer ("Bearer [MASKED]") keeps its hint.
    if isinstance(value, str) and value.endswith(FIELD_MASK):
        return value
    return FIELD_MASK

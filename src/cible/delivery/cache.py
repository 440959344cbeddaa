"""Per-session decision cache (seed 000: "per-visitor session caching").

Repeat calls of a visitor in one session with the same request shape reuse the engine's
decision instead of re-evaluating every rule. The key is (tenant, sessionId, tntId, request
shape); an entry is used only when it was made with the same artifact object (a new ETag loads
a new ``Artifact``, so a publish invalidates every entry) and the same profile fingerprint
(attributes, built-ins and assignments: any profile change that a condition could read
invalidates it), and for at most ``ttl`` seconds (schedules and time-of-day audiences move on).
Events are still recorded on every call: only the decision is reused.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import orjson

from cible.engine import Artifact

__all__ = ["DecisionCache", "request_shape"]

_VOLATILE = ("requestId", "impressionId", "notifications", "id", "telemetry", "trace")


def request_shape(request: dict[str, Any]) -> bytes:
    """The parts of a request a decision depends on, serialized canonically."""
    return orjson.dumps(
        {k: v for k, v in request.items() if k not in _VOLATILE}, option=orjson.OPT_SORT_KEYS
    )


class DecisionCache:
    """An LRU of decisions (serialized, so a hit hands out a fresh copy), bounded in entries and
    in bytes: made-up session ids or request shapes evict old entries, never grow memory."""

    def __init__(
        self, max_entries: int = 10_000, ttl: float = 60.0, max_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.ttl = ttl
        self._entries: OrderedDict[tuple[Any, ...], tuple[Artifact, bytes, float, bytes]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...], artifact: Artifact, fingerprint: bytes) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            cached_artifact, cached_fingerprint, stored_at, body = entry
            fresh = time.monotonic() - stored_at < self.ttl
            if cached_artifact is not artifact or cached_fingerprint != fingerprint or not fresh:
                self._drop(key)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return orjson.loads(body)

    def put(
        self, key: tuple[Any, ...], artifact: Artifact, fingerprint: bytes, decision: Any
    ) -> None:
        body = orjson.dumps(decision)
        size = _size(key, fingerprint, body)
        if size > self.max_bytes:
            return
        with self._lock:
            self._drop(key)
            self._entries[key] = (artifact, fingerprint, time.monotonic(), body)
            self.bytes += size
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def _drop(self, key: tuple[Any, ...]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= _size(key, entry[1], entry[3])


def _size(key: tuple[Any, ...], fingerprint: bytes, body: bytes) -> int:
    # The request shape (bytes) dominates the key; the rest is a fixed overhead per entry.
    shape = key[-1] if key and isinstance(key[-1], bytes) else b""
    return 400 + len(shape) + len(fingerprint) + len(body)

"""The session cache: a visitor's decisions, kept for the session (seed 000: "cache a visitor's
experiences during a session on your server to avoid repeated API calls").

A `get_offers` result is cached under (session id, the request without its per-call ids and
profile parameters). A later call with the same key returns the cached decisions unless:

- the session ended: the entry was idle longer than `session_timeout` (30 minutes, Adobe's
  server-side session length);
- the artifact changed (a new artifact has a new generation number);
- a profile parameter that some rule condition reads has a new value. Which parameters count
  comes from the artifact (`profile.<name>` variables of its conditions); without an artifact
  (server-side) every profile parameter counts.

The cache is an LRU bounded by `session_cache_size` entries, guarded by one lock (the work done
under it is a dict lookup and a move-to-end). An entry holds the result serialized with
`marshal` (JSON-shaped data only; anything else is kept as a dict and deep-copied): a hit
returns `marshal.loads` of it, a fresh object built in C, so mutating a result never corrupts
the cache, and the serialized form takes about a third of the memory of the dicts.

Request fingerprints are `marshal` bytes too (a fifth of the cost of sorted JSON). Two equal
requests whose keys come in a different order get different fingerprints: a cache miss, never
a wrong hit, since equal bytes always decode to equal requests.
"""

from __future__ import annotations

import json
import marshal
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheEntry", "SessionCache", "copy_json", "profile_values", "request_fingerprint"]

_PER_CALL_KEYS = frozenset({"requestId", "impressionId", "notifications", "telemetry"})


# marshal's format 2 writes no back-references, so equal data always gives equal bytes.
_MARSHAL_VERSION = 2

CacheKey = tuple[str, str, "bytes | str"]


@dataclass(slots=True)
class CacheEntry:
    generation: int
    profile: tuple[tuple[str, str], ...]
    result: dict[str, Any] | bytes  # marshal bytes of the result, or the dict itself
    notifications: list[dict[str, Any]]
    last_used: float

    @classmethod
    def frozen(
        cls,
        generation: int,
        profile: tuple[tuple[str, str], ...],
        result: dict[str, Any],
        notifications: list[dict[str, Any]],
        last_used: float,
    ) -> CacheEntry:
        """An entry holding `result` serialized (or a deep copy when it is not JSON-shaped)."""
        try:
            stored: dict[str, Any] | bytes = marshal.dumps(result, _MARSHAL_VERSION)
        except ValueError:
            stored = copy_json(result)
        return cls(generation, profile, stored, notifications, last_used)

    def fresh(self) -> dict[str, Any]:
        """A new copy of the cached result, for the caller to own."""
        if type(self.result) is bytes:
            # Bytes this entry wrote itself, never outside input.
            loaded: dict[str, Any] = marshal.loads(self.result)  # noqa: S302
            return loaded
        copied: dict[str, Any] = copy_json(self.result)
        return copied


class SessionCache:
    """A thread-safe LRU of `CacheEntry` with idle expiry.

    >>> cache = SessionCache(size=2, timeout=1800)
    >>> cache.put(("s1", "on-device", b"k"), CacheEntry.frozen(1, (), {"status": 200}, [], 0.0))
    >>> cache.get(("s1", "on-device", b"k"), generation=1, profile=(), now=10.0).fresh()
    {'status': 200}
    """

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self._entries: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = self.expirations = self.invalidations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def reset_lock(self) -> None:
        """A fresh lock for a forked child (the parent's may have been held at fork time)."""
        self._lock = threading.Lock()

    def get(
        self,
        key: CacheKey,
        *,
        generation: int,
        profile: tuple[tuple[str, str], ...],
        now: float,
    ) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            if now - entry.last_used > self.timeout:
                del self._entries[key]
                self.expirations += 1
                self.misses += 1
                return None
            if entry.generation != generation or entry.profile != profile:
                del self._entries[key]
                self.invalidations += 1
                self.misses += 1
                return None
            entry.last_used = now
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def request_fingerprint(request: Mapping[str, Any]) -> bytes | str:
    """The request as stable bytes (a string when it holds more than JSON data), without
    per-call ids and profile parameters."""
    stripped = {k: v for k, v in request.items() if k not in _PER_CALL_KEYS}
    for mode in ("execute", "prefetch"):
        block = stripped.get(mode)
        if type(block) is dict or isinstance(block, Mapping):
            stripped[mode] = {key: _without_profile(value) for key, value in block.items()}
    try:
        return marshal.dumps(stripped, _MARSHAL_VERSION)
    except ValueError:
        return json.dumps(stripped, sort_keys=True, separators=(",", ":"), default=str)


def _without_profile(value: Any) -> Any:
    if type(value) is dict:
        if "profileParameters" not in value:
            return value
        return {k: v for k, v in value.items() if k != "profileParameters"}
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k != "profileParameters"}
    if isinstance(value, list):
        return [_without_profile(item) for item in value]
    return value


def profile_values(
    request: Mapping[str, Any], used: frozenset[str] | None
) -> tuple[tuple[str, str], ...]:
    """The request's profile parameters that conditions read (`used=None`: all of them)."""
    if used is not None and not used:
        return ()  # no condition reads a profile parameter
    found: dict[str, str] = {}
    for detail in _details(request):
        params = detail.get("profileParameters")
        if params is not None and isinstance(params, Mapping):
            for name, value in params.items():
                if used is None or name in used:
                    found[f"{detail.get('name', '')}\x00{name}"] = str(value)
    return tuple(sorted(found.items()))


def _details(request: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for mode in ("execute", "prefetch"):
        block = request.get(mode)
        if block is None or not (type(block) is dict or isinstance(block, Mapping)):
            continue
        page_load = block.get("pageLoad")
        if page_load is not None and (type(page_load) is dict or isinstance(page_load, Mapping)):
            yield page_load
        for key in ("mboxes", "views"):
            entries = block.get(key)
            if isinstance(entries, list):
                yield from (e for e in entries if type(e) is dict or isinstance(e, Mapping))


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars); several times faster than
    `copy.deepcopy`, which a cache hit would otherwise spend most of its time in."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value

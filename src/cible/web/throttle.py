"""Per-client request throttling with a token bucket.

Each API client has a bucket of ``burst`` tokens refilled at ``rate`` per second; a request
takes one token or is refused with 429 and the seconds until the next token (``Retry-After``,
RFC 9110 section 10.2.3). Buckets live in the process: with N workers a client may make up to N
times the rate, which the operations docs state.

A batch (``POST /{tenant}/target/batch``) takes one token per operation, all at once, before any
operation runs (``take(key, n)`` is all or nothing); its operations then go through the app
in-process carrying ``PREPAID_SCOPE_KEY`` in their ASGI scope, naming the client that paid, and
take no second token. A scope key cannot be set by an HTTP client, so it cannot be forged.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# ASGI scope key of a request whose throttle tokens were taken in advance; its value is the
# client id that paid (a batch operation sent with other credentials pays for itself).
PREPAID_SCOPE_KEY = "cible.throttle.prepaid"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketThrottle:
    """Buckets per key; at most ``max_keys`` are kept, so made-up keys cannot grow memory.

    When the table is full, buckets that have refilled (a key idle long enough to be back at
    ``burst``) are dropped first, since forgetting them changes nothing; if none has, the oldest
    half goes, which at worst gives those keys a fresh burst.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        refill = self.burst / self.rate
        full = [k for k, b in self._buckets.items() if now - b.updated >= refill]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            # dicts keep insertion order and take() re-inserts nothing, so these are the oldest.
            for key in list(self._buckets)[: len(self._buckets) // 2 + 1]:
                del self._buckets[key]

    def take(self, key: str, n: int = 1) -> float:
        """0 if ``key`` may take ``n`` tokens now (and takes them), else the seconds to wait.

        Nothing is taken unless all ``n`` are there. With ``n`` above ``burst`` the wait is
        infinite: the bucket never holds that many (callers check ``n <= burst`` first).
        """
        if n > self.burst:
            return math.inf
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= n:
                bucket.tokens -= n
                return 0.0
            return (n - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> int:
        return max(1, math.ceil(wait))

"""Adobe's `callback` option for `TargetClient`: the call runs in the background.

Adobe's `target-python-sdk` (`target.py` `execute_delivery`, through `delivery_api_client`'s
`ApiClient`) runs `get_offers`, `get_attributes` and `send_notifications` given a `callback` on
a thread pool (`multiprocessing.pool.ThreadPool.apply_async`) and returns the pool's
`AsyncResult` at once; `callback(result)` is called with what the call would have returned,
`err_callback(error)` with what it raised. Without a `callback` the call is synchronous, and an
`err_callback` alone changes nothing (Adobe passes `async_req=bool(callback)`).

`TargetClient` does the same on one pool of `callback_threads` threads per client (Adobe makes a
pool per call), created on first use, dropped in a forked child (its threads are the parent's)
and closed by `close()`. A callback that raises is logged: it must not stop the pool's result
thread, which would leave every later `AsyncResult` unfinished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from multiprocessing.pool import AsyncResult, ThreadPool
from typing import Any, TypeVar

__all__ = ["CallbackPool"]

T = TypeVar("T")


class CallbackPool:
    """Runs calls on a lazily created thread pool and hands their outcome to callbacks."""

    def __init__(self, threads: int, logger: logging.Logger) -> None:
        self.threads = threads
        self.logger = logger
        self._pool: ThreadPool | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self,
        run: Callable[[], T],
        callback: Callable[[T], object],
        err_callback: Callable[[BaseException], object] | None,
    ) -> AsyncResult[T]:
        """Start `run()` in the pool; `callback(result)` or `err_callback(error)` when it ends."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the client is closed")
            if self._pool is None:
                self._pool = ThreadPool(self.threads)
            pool = self._pool
        return pool.apply_async(
            run,
            callback=self._guarded(callback, "callback"),
            error_callback=self._guarded(err_callback, "err_callback") if err_callback else None,
        )

    def _guarded(self, function: Callable[[Any], object], name: str) -> Callable[[Any], None]:
        logger = self.logger

        def call(value: Any) -> None:
            try:
                function(value)
            except Exception:
                logger.exception("cible.sdk: the %s raised", name)

        return call

    def after_fork(self) -> None:
        """In a forked child: forget the parent's pool (its threads do not exist here)."""
        self._lock = threading.Lock()
        self._pool = None

    def close(self, timeout: float) -> bool:
        """Refuse new calls, let running ones finish and call back, waiting at most `timeout`
        seconds; True when every thread of the pool has stopped."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is None:
            return True
        pool.close()
        # ThreadPool.join has no timeout: join it from a helper thread, waited on with one.
        joiner = threading.Thread(target=pool.join, name="cible-sdk-callbacks-close", daemon=True)
        joiner.start()
        joiner.join(timeout)
        if joiner.is_alive():
            self.logger.warning("cible.sdk: calls with a callback still running after close")
            return False
        return True

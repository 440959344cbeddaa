"""Random ids for the SDK's hot path: session ids, visitor ids and notification ids.

`uuid.uuid4()` costs a system call per id (about 3 µs in a sandboxed container); one read of the
OS's random source serves 256 ids here.
"""

from __future__ import annotations

import os
import threading

__all__ = ["RandomIds", "random_id"]


class RandomIds:
    """32 hex digits from the OS's random source, read 4 KiB at a time.

    A session id is made on most calls, and `os.urandom` is a system call (costly in sandboxed
    containers); one read serves 256 ids. The buffer is dropped in a forked child, which must
    not hand out its parent's ids.
    """

    _SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._position = 0
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._position = b"", 0

    def __call__(self) -> str:
        with self._lock:
            position = self._position
            if position + 16 > len(self._buffer):
                self._buffer, position = os.urandom(self._SIZE), 0
            self._position = position + 16
            return self._buffer[position : position + 16].hex()


random_id = RandomIds()

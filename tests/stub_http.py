"""The HTTP server the tests' stub delivery endpoints run on.

Adobe's SDK posts notifications from a thread pool, many connections at once; the standard
library server's listen backlog of 5 then overflows and some connections are reset, losing
notifications the tests count. A deep backlog and daemon threads keep every request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubHTTPServer(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[StubHTTPServer]:
    """A stub server on a free port of 127.0.0.1, answering from a thread until the block ends."""
    server = StubHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

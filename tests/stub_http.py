"""The HTTP server the tests' stub delivery endpoints run on.

Adobe's SDK posts notifications from a thread pool, many connections at once; the standard
library server's listen backlog of 5 then overflows and some connections are reset, losing
notifications the tests count. A deep backlog and daemon threads keep every request.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class StubHTTPServer(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True

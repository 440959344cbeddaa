"""Real ``cible serve`` processes for the tests that need sockets, several processes or a crash."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CIBLE = str(Path(sys.executable).parent / "cible")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start(database_url: str, cwd: Path, secret_key: str, *args: str) -> Server:
    """One ``cible serve`` on a free port over ``database_url``, answering /health."""
    env = {**os.environ, "CIBLE_DATABASE_URL": database_url, "CIBLE_SECRET_KEY": secret_key}
    port = free_port()
    command = [CIBLE, "serve", "--port", str(port), *args]
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    server = Server(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 180  # a loaded machine imports the app slowly
    while True:
        try:
            if httpx.get(f"{server.base}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()  # a server still starting never closes its stderr: read() would wait
            stderr = process.stderr.read() if process.stderr else b""
            server.stop()
            raise RuntimeError(f"server did not start: {stderr.decode(errors='replace')}")
        time.sleep(0.1)


@contextmanager
def running(
    database_url: str, cwd: Path, secret_key: str, count: int = 1, *args: str
) -> Iterator[list[Server]]:
    servers: list[Server] = []
    try:
        for _ in range(count):
            servers.append(start(database_url, cwd, secret_key, *args))
        yield servers
    finally:
        for server in servers:
            server.stop()

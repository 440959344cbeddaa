"""Storage servers on 127.0.0.1 for the batch export tests: SFTP (asyncssh) and S3 (moto).

The SFTP server runs its event loop in a thread, serves a folder as its root (chroot) to one
user with a password, and can hold the n-th file opened for writing until the test releases
it: the test then knows the client is in the middle of an export.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncssh

USER, PASSWORD = "aam", "batch-secret"


class SFTP:
    def __init__(self, root: Path, hold_at: int | None = None) -> None:
        self.root = root
        self.hold_at = hold_at  # the n-th write-open of a .part file waits for release()
        self.opened = 0
        self.reached = threading.Event()
        self.released = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = self.key.export_public_key().decode().strip()
        self.port = 0
        self._listener: Any = None

    def _sftp_factory(self) -> type[asyncssh.SFTPServer]:
        server = self

        class Jail(asyncssh.SFTPServer):  # type: ignore[misc]
            def __init__(self, chan: Any) -> None:
                super().__init__(chan, chroot=str(server.root).encode())

            async def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
                if pflags & asyncssh.FXF_WRITE and path.endswith(b".part"):
                    server.opened += 1
                    if server.opened == server.hold_at:
                        server.reached.set()
                        while not server.released.is_set():
                            await asyncio.sleep(0.01)
                return super().open(path, pflags, attrs)

        return Jail

    def start(self) -> None:
        class Auth(asyncssh.SSHServer):  # type: ignore[misc]
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return (username, password) == (USER, PASSWORD)

        self.thread.start()

        async def listen() -> Any:
            return await asyncssh.listen(
                "127.0.0.1",
                0,
                server_host_keys=[self.key],
                server_factory=Auth,
                sftp_factory=self._sftp_factory(),
                allow_scp=False,
            )

        self._listener = asyncio.run_coroutine_threadsafe(listen(), self.loop).result(10)
        self.port = self._listener.sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.released.set()

        async def close() -> None:
            self._listener.close()
            await self._listener.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def sftp_server(root: Path, hold_at: int | None = None) -> Iterator[SFTP]:
    server = SFTP(root, hold_at)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def s3_server() -> Iterator[str]:
    """A moto S3 endpoint on 127.0.0.1; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()

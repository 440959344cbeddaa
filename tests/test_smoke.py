"""The one test that boots the real server (``cible serve``) and talks to it over a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CIBLE = str(Path(sys.executable).parent / "cible")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {
        **os.environ,
        "CIBLE_DATABASE_URL": f"sqlite:///{tmp_path / 'smoke.db'}",
        "CIBLE_SECRET_KEY": "smoke-test-secret-key-0123456789-abcdef",
    }
    subprocess.run([CIBLE, "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True)
    demo = subprocess.run(
        [CIBLE, "demo", "--json"], env=env, cwd=tmp_path, check=True, capture_output=True, text=True
    )
    port = _free_port()
    process = subprocess.Popen(
        [CIBLE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded machine imports the app slowly
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()  # a server still starting never closes its stderr
                raise RuntimeError(
                    f"server did not start: {process.stderr.read() if process.stderr else ''!r}"
                )
            time.sleep(0.1)
        yield base, json.loads(demo.stdout)
    finally:
        process.terminate()
        process.wait(timeout=15)
        if process.stderr is not None:
            process.stderr.close()


def test_real_server_serves_tokens_and_offers(server: tuple[str, dict[str, str]]) -> None:
    base, demo = server
    token = httpx.post(
        f"{base}/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": demo["clientId"],
            "client_secret": demo["clientSecret"],
        },
    )
    assert token.status_code == 200
    headers = {
        "Authorization": f"Bearer {token.json()['access_token']}",
        "X-Api-Key": demo["clientId"],
        "Accept": "application/vnd.adobe.target.v2+json",
    }
    offers = httpx.get(f"{base}/demo/target/offers", headers=headers)
    assert offers.status_code == 200
    assert offers.headers["content-type"] == "application/vnd.adobe.target.v2+json"
    assert offers.json()["total"] >= 4
    assert httpx.get(f"{base}/metrics").status_code == 200
    assert httpx.get(f"{base}/docs").status_code == 200

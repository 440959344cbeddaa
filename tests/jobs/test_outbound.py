"""The outbound client's SSRF guard: addresses are checked where the connection is made."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from cible.jobs import outbound
from cible.jobs.outbound import OutboundBlocked, Policy
from tests.stub_http import serving


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.headers.get("Host", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_port() -> Iterator[int]:
    with serving(_Hello) as server:
        yield int(server.server_address[1])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "private"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_default_policy_denies_every_non_public_range(address: str, reason: str | None) -> None:
    assert Policy().refusal(ipaddress.ip_address(address)) == reason


def test_allowed_networks_open_only_what_they_name() -> None:
    policy = Policy.of(["127.0.0.1/32", " 10.20.0.0/16", ""])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) == "loopback"
    assert policy.refusal(ipaddress.ip_address("10.21.0.1")) == "private"
    assert policy.refusal(ipaddress.ip_address("::1")) == "loopback"


def test_loopback_server_is_refused_by_default(local_port: int) -> None:
    with outbound.client(Policy(), timeout=2) as http, pytest.raises(OutboundBlocked) as caught:
        http.get(f"http://127.0.0.1:{local_port}/")
    assert "loopback" in str(caught.value)
    with outbound.client(Policy(), timeout=2) as http, pytest.raises(OutboundBlocked):
        http.get(f"http://localhost:{local_port}/")


def test_metadata_address_is_refused_without_connecting() -> None:
    with outbound.client(Policy(), timeout=0.5) as http, pytest.raises(OutboundBlocked) as caught:
        http.get("http://169.254.169.254/latest/meta-data/")
    assert "link-local" in str(caught.value)


def test_allowed_loopback_is_reached(local_port: int) -> None:
    with outbound.client(Policy.of(["127.0.0.1/32"]), timeout=2) as http:
        response = http.get(f"http://127.0.0.1:{local_port}/")
    assert response.status_code == 200


def test_the_name_is_resolved_and_checked_at_connect_time(
    local_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that pointed elsewhere when saved is judged by what it resolves to now, and the
    connection goes to the address that was checked (no second lookup)."""
    answers = {"partner.test": "127.0.0.1", "rebound.test": "10.0.0.7"}
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            looked_up.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    policy = Policy.of(["127.0.0.1/32"])
    with outbound.client(policy, timeout=2) as http:
        response = http.get(f"http://partner.test:{local_port}/x")
        assert response.status_code == 200
        assert response.text == f"partner.test:{local_port}"  # the Host header kept the name
        with pytest.raises(OutboundBlocked) as caught:
            http.get(f"http://rebound.test:{local_port}/x")
    assert "10.0.0.7 (private)" in str(caught.value)
    assert looked_up == ["partner.test", "rebound.test"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x"])
def test_other_schemes_are_refused(url: str) -> None:
    with (
        outbound.client(Policy(), timeout=1) as http,
        pytest.raises((OutboundBlocked, httpx.UnsupportedProtocol)),
    ):
        http.get(url)
    assert outbound.check_url(url) == "must be an http or https URL"


def test_check_url() -> None:
    assert outbound.check_url("https://partner.example/aam?x=1") is None
    assert outbound.check_url("https://") is not None
    assert outbound.check_url("not a url") is not None


def test_environment_proxies_are_ignored(local_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would connect on Cible's behalf, unchecked: the environment's is not used."""
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.9.9.9:3128")
    with outbound.client(Policy.of(["127.0.0.1/32"]), timeout=2) as http:
        assert http.get(f"http://127.0.0.1:{local_port}/").status_code == 200


def test_settings_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    from cible.config import Settings

    settings = Settings(outbound_allowed_networks="127.0.0.1/32,::1/128", _env_file=None)  # type: ignore[call-arg]
    policy = Policy.from_settings(settings)
    assert policy.refusal(ipaddress.ip_address("::1")) is None
    assert Policy.from_settings(Settings(_env_file=None)).allowed == ()  # type: ignore[call-arg]

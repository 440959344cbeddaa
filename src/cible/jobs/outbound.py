"""The one HTTP client for every URL Cible calls on a user's behalf, with an SSRF guard.

Destinations, OAuth token endpoints and (later) recommendation feeds are URLs that tenants
write. Unchecked, such a URL reaches the database port on localhost, the cloud metadata service
(169.254.169.254) or any host of the private network Cible runs in. Every outbound call
therefore goes through :func:`client`, whose transport resolves the host name itself and checks
each address *at connect time*, then connects to the address it checked: a name that resolves to
a public address when the URL is saved and to a private one later (DNS rebinding) is still
refused. Loopback, private, link-local, multicast, reserved and unspecified ranges (IPv4 and
IPv6, IPv4-mapped addresses unwrapped) are denied unless a network in
``CIBLE_OUTBOUND_ALLOWED_NETWORKS`` contains the address (docs/security.md, "Outbound calls").
Proxies from the environment are ignored (a proxy would connect on our behalf, unchecked) and
redirects are not followed.

>>> with client(Policy.from_settings(settings), timeout=3.0) as http:
...     http.post("https://partner.example/aam", content=b"{}")
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from cible.config import Settings, get_settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
USER_AGENT = "Cible outbound"
SCHEMES = ("http", "https")


class OutboundBlocked(Exception):
    """The URL's host resolves only to addresses the policy denies (or its scheme is refused)."""


def _denied_range(address: Address) -> str | None:
    """The reason ``address`` is not a public unicast address, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _denied_range(address.ipv4_mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("unspecified", address.is_unspecified),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


@dataclass(frozen=True)
class Policy:
    """Which resolved addresses an outbound connection may reach."""

    allowed: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls.of(settings.outbound_allowed_networks.split(","))

    @classmethod
    def of(cls, networks: Iterable[str]) -> Policy:
        return cls(tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n))

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be reached, or None when it may."""
        if any(address in net for net in self.allowed if net.version == address.version):
            return None
        return _denied_range(address)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, resolving and checking the address before connecting."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._inner = httpcore.SyncBackend()

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` the policy allows, in resolver order; raises if none."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        allowed: list[str] = []
        refused: list[str] = []
        for info in infos:
            text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone index
            reason = self.policy.refusal(ipaddress.ip_address(text))
            if reason is None:
                if text not in allowed:
                    allowed.append(text)
            else:
                refused.append(f"{text} ({reason})")
        if not allowed:
            raise OutboundBlocked(
                f"outbound call to {host!r} refused: it resolves to {', '.join(refused)}; "
                "allow the network in CIBLE_OUTBOUND_ALLOWED_NETWORKS if this is intended"
            )
        return allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.resolve(host, port):
            try:
                # The checked address itself, never the name again: no second resolution.
                # TLS still verifies the certificate against the URL's host name (SNI).
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise OutboundBlocked("outbound calls never use unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`GuardedBackend`, refusing schemes other than http(s)."""

    def __init__(self, policy: Policy, *, verify: bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx builds its pool without a backend argument; the same pool with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in SCHEMES:
            raise OutboundBlocked(f"outbound URL scheme {request.url.scheme!r} is refused")
        return super().handle_request(request)


def client(
    policy: Policy | None = None,
    *,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` whose every connection passes the policy (default: the settings')."""
    chosen = policy if policy is not None else Policy.from_settings(get_settings())
    return httpx.Client(
        transport=GuardedTransport(chosen),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
    )


def check_url(url: str) -> str | None:
    """Why ``url`` can never be called (scheme, no host), or None. Addresses are checked later,
    at connect time, since what a name resolves to changes."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        return f"is not a URL ({exc})"
    if parsed.scheme not in SCHEMES:
        return "must be an http or https URL"
    if not parsed.host:
        return "must name a host"
    return None

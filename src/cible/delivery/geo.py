"""Pluggable IP-to-geo lookup for ``context.geo`` (off by default).

Adobe resolves ``context.geo`` from ``geo.ipAddress`` when the request does not give the fields
itself, and from the caller's own address when the request gives no geo at all (Adobe Delivery
API, ``Context.geo``). Cible uses ``context.geo`` as given and, when the app has a ``GeoLookup``
(``app.state.geo_lookup``, a MaxMind reader from ``cible.delivery.geo_maxmind``), fills the
fields a request left out from its ``ipAddress`` (``with_geo``), which ``with_caller_address``
sets to the caller's address when the request names no location. Values the request gives
always win. A lookup that fails or knows nothing leaves the request as it was.

    >>> class Table:
    ...     def lookup(self, ip):
    ...         return {"countryCode": "FR", "city": "PARIS"} if ip == "192.0.2.1" else None
    >>> with_geo({"channel": "web", "geo": {"ipAddress": "192.0.2.1", "city": "LYON"}}, Table())
    {'channel': 'web', 'geo': {'countryCode': 'FR', 'city': 'LYON', 'ipAddress': '192.0.2.1'}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["GEO_FIELDS", "GeoLookup", "with_caller_address", "with_geo"]

GEO_FIELDS = ("countryCode", "stateCode", "city", "zip", "latitude", "longitude")
"""The ``context.geo`` fields a lookup may fill (Adobe Delivery API ``Geo``)."""

log = logging.getLogger("cible.delivery")


class GeoLookup(Protocol):
    """Resolves an IP address to ``context.geo`` fields (``GEO_FIELDS``), or None."""

    def lookup(self, ip_address: str) -> Mapping[str, Any] | None: ...


def with_geo(context: Mapping[str, Any], geo_lookup: GeoLookup | None) -> Mapping[str, Any]:
    """``context`` with the geo fields its ``geo.ipAddress`` resolves to, where it had none."""
    geo = context.get("geo")
    if geo_lookup is None or not isinstance(geo, Mapping):
        return context
    ip_address = geo.get("ipAddress")
    if not isinstance(ip_address, str) or not ip_address:
        return context
    if all(geo.get(name) is not None for name in GEO_FIELDS):
        return context
    try:
        found = geo_lookup.lookup(ip_address)
    except Exception:
        # A broken lookup must not fail delivery: decide without the resolved fields.
        log.exception("geo lookup failed")
        return context
    if not found:
        return context
    resolved = {name: found[name] for name in GEO_FIELDS if found.get(name) is not None}
    return {**context, "geo": {**resolved, **{k: v for k, v in geo.items() if v is not None}}}


def with_caller_address(request: dict[str, Any], address: str | None) -> None:
    """Sets ``context.geo.ipAddress`` of a parsed request to the caller's ``address`` when the
    request gives neither an address nor any geo field (as Adobe's edge resolves the caller).

    Behind a proxy the caller is the proxy, unless the server is told to trust its
    ``X-Forwarded-For`` (uvicorn's ``--forwarded-allow-ips``, docs/delivery-geo.md). A server-side
    SDK call is made by a server: pass the visitor's address in ``context.geo.ipAddress``.

    >>> request = {"context": {"channel": "web"}}
    >>> with_caller_address(request, "2001:db8::1")
    >>> request["context"]["geo"]
    {'ipAddress': '2001:db8::1'}
    """
    context = request.get("context")
    if not address or not isinstance(context, dict):
        return
    geo = context.get("geo")
    if geo is None:
        context["geo"] = {"ipAddress": address}
    elif (
        isinstance(geo, dict)
        and not geo.get("ipAddress")
        and all(geo.get(name) is None for name in GEO_FIELDS)
    ):
        geo["ipAddress"] = address

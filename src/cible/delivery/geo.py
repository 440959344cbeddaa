"""Pluggable IP-to-geo lookup for ``context.geo`` (off by default).

Adobe resolves ``context.geo`` from ``geo.ipAddress`` when the request does not give the fields
itself. Cible uses ``context.geo`` as given and, when the app has a ``GeoLookup``
(``app.state.geo_lookup``), fills the fields a request left out from its ``ipAddress``. Values
the request gives always win. A lookup that fails or knows nothing leaves the request as it was.

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

__all__ = ["GEO_FIELDS", "GeoLookup", "with_geo"]

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

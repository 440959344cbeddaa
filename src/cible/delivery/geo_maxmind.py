"""Geo from the visitor's IP address, read from a MaxMind database (``CIBLE_GEOIP_DATABASE``).

Adobe's edge resolves ``context.geo`` from the caller's IP address when the request gives no
geo fields (Adobe Delivery API, ``Context.geo``). Cible does it with a MaxMind GeoIP2 or
GeoLite2 City database (``.mmdb``; a Country database gives the country only), read with
``geoip2``. ``open_geo_lookup`` is called once by ``create_app``: it returns the reader, or
``None`` with one log line saying why geo from IP is off, so a missing database is seen at
startup rather than as audiences that silently never match.

Values are written as Adobe's geo service answers them (docs/delivery-geo.md): ``countryCode``
the ISO 3166-1 alpha-2 code (``FR``), ``stateCode`` the ISO 3166-2 subdivision code without
its country (``IDF``, ``CA``), ``city`` the English name in upper case (``PARIS``; Adobe's
on-device geo headers, ``x-geo-city``), ``zip`` the postal code, ``latitude``/``longitude``.

    >>> lookup = open_geo_lookup(None)
    >>> lookup is None
    True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb

__all__ = ["MaxMindLookup", "open_geo_lookup"]

log = logging.getLogger("cible.delivery")

# Adobe Delivery API ``Geo``: city ≤ 50 characters, zip ≤ 12, stateCode 1 to 3.
_CITY_MAX = 50
_ZIP_MAX = 12
_STATE_MAX = 3


class MaxMindLookup:
    """``cible.delivery.geo.GeoLookup`` over a MaxMind City (or Country) database file.

    >>> lookup = MaxMindLookup("GeoLite2-City.mmdb")  # doctest: +SKIP
    >>> lookup.lookup("81.2.69.142")  # doctest: +SKIP
    {'countryCode': 'GB', 'stateCode': 'ENG', 'city': 'LONDON', 'latitude': 51.5, ...}
    """

    def __init__(self, path: str) -> None:
        self.path = path
        # MODE_AUTO: the C extension when installed, memory-mapped file otherwise.
        self._reader = geoip2.database.Reader(path, locales=["en"])
        kind = self._reader.metadata().database_type
        self.database_type = kind
        self._city = "City" in kind or "Enterprise" in kind
        if not self._city and "Country" not in kind:
            self._reader.close()
            raise ValueError(f"{path}: a {kind} database has no location (need a City database)")

    def lookup(self, ip_address: str) -> Mapping[str, Any] | None:
        try:
            if self._city:
                found: Any = self._reader.city(ip_address)
            else:
                found = self._reader.country(ip_address)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            # Not in the database, or not an IP address at all (a client's typo is not an error
            # of the server): no geo, as for a private address.
            return None
        geo: dict[str, Any] = {}
        if found.country.iso_code:
            geo["countryCode"] = found.country.iso_code.upper()
        if not self._city:
            return geo or None
        subdivision = found.subdivisions.most_specific.iso_code
        if subdivision and len(subdivision) <= _STATE_MAX:
            geo["stateCode"] = subdivision.upper()
        if found.city.name:
            geo["city"] = found.city.name.upper()[:_CITY_MAX]
        postal = found.postal.code
        if postal and len(postal) <= _ZIP_MAX:
            geo["zip"] = postal
        location = found.location
        if location.latitude is not None and location.longitude is not None:
            geo["latitude"] = float(location.latitude)
            geo["longitude"] = float(location.longitude)
        return geo or None

    def close(self) -> None:
        self._reader.close()


def open_geo_lookup(path: str | None) -> MaxMindLookup | None:
    """The reader for ``path``, or None (logged once, with the reason) when there is none."""
    if not path:
        log.warning(
            "geo from IP is off: CIBLE_GEOIP_DATABASE is not set; geo audiences match only "
            "requests that give context.geo fields themselves (docs/delivery-geo.md)"
        )
        return None
    if not os.path.isfile(path):
        log.error(
            "geo from IP is off: CIBLE_GEOIP_DATABASE %s is not a file; geo audiences match "
            "only requests that give context.geo fields themselves",
            path,
        )
        return None
    try:
        lookup = MaxMindLookup(path)
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as error:
        log.error(
            "geo from IP is off: CIBLE_GEOIP_DATABASE %s cannot be read (%s); geo audiences "
            "match only requests that give context.geo fields themselves",
            path,
            error,
        )
        return None
    log.info("geo from IP: %s database %s", lookup.database_type, path)
    return lookup

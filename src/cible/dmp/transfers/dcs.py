"""The ``dests`` and ``stuff`` of a DCS answer: URL and cookie destinations of a device's segments.

AAM's DCS returns, for the segments a device is in, the URL destinations for the page to fire
(``dests``: ``{c: url, e: secure url, y: "img"|"iframe"}``, only when the call sets
``d_dst=1``) and the cookie destinations to set (``stuff``: ``{cn, cv, ttl, dmn}``) (Adobe
Audience Manager, "Receive data from the DCS"). A serialized URL destination fires once, with
``%ALIAS%`` replaced by the aliases of the device's mapped segments joined by its delimiter; a
plain one fires each mapped segment's URL. A cookie destination's value is
``<singleKey><valueSeparator><alias>,<alias>…`` (``single_key``) or the aliases, each already a
``key=value`` pair, joined by ``keySeparator`` (``multi_key``), cut to ``maxSize`` bytes at a
whole alias.

The destinations of a tenant are compiled once per rules version (every destination or mapping
change bumps it), so the DCS hot path reads nothing more than it did.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Connection, Table, select

from cible.dmp.transfers.tables import Destination, DestinationMapping

_D: Table = Destination.__table__  # type: ignore[assignment]
_M: Table = DestinationMapping.__table__  # type: ignore[assignment]
_LOCK = threading.Lock()
# (database, tenant) -> (the RuleSet object the entry was built for, its destinations)
_CACHE: dict[tuple[str, int], tuple[object, list[Compiled]]] = {}


@dataclass
class Compiled:
    kind: str
    config: dict[str, Any]
    # sid -> (alias, url, secure url, start date, end date)
    mappings: dict[int, tuple[str, str, str, str | None, str | None]] = field(default_factory=dict)


def load(conn: Connection, tenant_id: int) -> list[Compiled]:
    """The tenant's active URL and cookie destinations with their mappings."""
    found: dict[int, Compiled] = {}
    for row in conn.execute(
        select(_D.c.id, _D.c.destination_type, _D.c.config)
        .where(
            _D.c.tenant_id == tenant_id,
            _D.c.status == "ACTIVE",
            _D.c.destination_type.in_(("PUSH", "ADS")),
        )
        .order_by(_D.c.id)
    ):
        found[int(row.id)] = Compiled(str(row.destination_type), orjson.loads(row.config))
    if not found:
        return []
    for m in conn.execute(
        select(_M).where(_M.c.destination_id.in_(list(found))).order_by(_M.c.sid)
    ):
        alias = m.trait_alias if found[m.destination_id].kind == "PUSH" else m.value_alias
        found[m.destination_id].mappings[int(m.sid)] = (
            alias,
            m.url,
            m.secure_url,
            m.start_date,
            m.end_date,
        )
    return [c for c in found.values() if c.mappings]


def destinations_for(conn: Connection, tenant_id: int, rules: object) -> list[Compiled]:
    """The compiled destinations, rebuilt when ``rules`` (the tenant's current RuleSet) is new."""
    url = conn.engine.url
    key = (f"{url.drivername}:{url.host}:{url.port}:{url.database}", tenant_id)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None and cached[0] is rules:
        return cached[1]
    built = load(conn, tenant_id)
    with _LOCK:
        _CACHE[key] = (rules, built)
    return built


def _live(start: str | None, end: str | None, today: str) -> bool:
    return (start is None or start <= today) and (end is None or today <= end)


def render(
    compiled: list[Compiled], segments: set[int], now_ms: int, *, dst: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(stuff, dests)`` for a device in ``segments`` at ``now_ms``."""
    if not compiled or not segments:
        return [], []
    today = datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%d")
    stuff: list[dict[str, Any]] = []
    dests: list[dict[str, Any]] = []
    for dest in compiled:
        hits = [
            mapping
            for sid, mapping in dest.mappings.items()
            if sid in segments and _live(mapping[3], mapping[4], today)
        ]
        if not hits:
            continue
        if dest.kind == "ADS":
            stuff.append(_cookie(dest.config, [h[0] for h in hits]))
        elif dst:
            dests.extend(_urls(dest.config, hits))
    return stuff, dests


def _urls(
    config: dict[str, Any], hits: list[tuple[str, str, str, Any, Any]]
) -> list[dict[str, Any]]:
    tag = config.get("tagType") or "img"
    if config.get("serializationEnabled"):
        joined = quote(str(config.get("delimiter") or ",").join(h[0] for h in hits), safe=",;|")
        url = str(config.get("urlFormatString") or "").replace("%ALIAS%", joined)
        secure = str(config.get("secureUrlFormatString") or "").replace("%ALIAS%", joined)
        return [{"c": url, "e": secure or url, "y": tag}]
    return [{"c": h[1] or h[2], "e": h[2] or h[1], "y": tag} for h in hits]


def _cookie(config: dict[str, Any], aliases: list[str]) -> dict[str, Any]:
    limit = int(config.get("maxSize") or 4096)
    if config.get("formatType") == "multi_key":
        prefix, separator = "", str(config.get("keySeparator") or ";")
    else:
        prefix = f"{config.get('singleKey')}{config.get('valueSeparator') or '='}"
        separator = str(config.get("serializationSeparator") or ",")
    value = prefix
    for i, alias in enumerate(aliases):
        candidate = value + (separator if i else "") + alias
        if len(candidate.encode()) > limit:
            break
        value = candidate
    return {
        "cn": config.get("cookieName"),
        "cv": value,
        "ttl": int(config.get("ttl") or 0),
        "dmn": config.get("cnameDomain") or "",
    }

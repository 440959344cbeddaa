"""Serving a criteria: its precomputed results for the request's key, filtered, ranked, backed up.

``recommend`` does no training: it reads ``recs_results`` (``cible.recs.training``), the visitor's
keys (``recs_visitors``) and the candidates' catalog entries, then applies, in Adobe's order:

1. the key: ``CURRENT`` (the request's ``entity.id``), ``LAST_VIEWED``, ``LAST_PURCHASED``,
   ``MOST_VIEWED`` (from the visitor's behaviour), ``CURRENT``/``FAVORITE`` category; with
   ``aggregation`` ``AGGREGATE`` the visitor's next keys fill what the first left empty, with
   ``ALL_OR_NOTHING`` a key is used only if it fills every slot alone;
2. deduplication: each item once, never the key item itself, only items in the catalog;
3. filters: inclusion rules (static, and dynamic against the key item, the visitor's profile or
   the call's mbox parameters), ``minInventory`` (an
   item without inventory passes), ``priceRange`` on ``value``, ``excludePurchases``,
   ``excludeViews`` (user-based);
4. ranking rules (stable: equal boosts keep the algorithm's order);
5. backup: unless ``backupDisabled``, free slots are filled from the week's most viewed items
   (shuffled in buckets of 20, Adobe's rule), filtered too when
   ``backupInclusionFilteringEnabled``; without enough items and with ``partialDesignAllowed``
   false, nothing is returned (the caller shows default content, as Adobe does).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Table, select
from sqlalchemy.orm import Session

from cible.profiles.service import find_profile
from cible.recs.behaviour import visitor_state
from cible.recs.catalog import get_entities
from cible.recs.entities import Entity
from cible.recs.inclusion import Lookup, Rule, compile_ranking, compile_rules
from cible.recs.tables import RecsCriteria, RecsResult, RecsVisitor

__all__ = ["recommend"]

MAX_KEYS = 10
BUCKET = 20
_results: Table = RecsResult.__table__  # type: ignore[assignment]
_visitors: Table = RecsVisitor.__table__  # type: ignore[assignment]
_criteria: Table = RecsCriteria.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class _Compiled:
    group: str
    body: dict[str, Any]
    include: Rule
    rank: Callable[[Entity, Entity | None], int] | None
    # The source types its inclusion rules read (ENTITY, PROFILE, MBOX).
    sources: frozenset[str]


_COMPILED: dict[tuple[int, str], _Compiled] = {}
_COMPILED_MAX = 1024


def _compiled(row: Any) -> _Compiled:
    # Keyed by the stored body itself: an update within the same millisecond still shows.
    cache_key = (row.id, row.body)
    found = _COMPILED.get(cache_key)
    if found is None:
        body = orjson.loads(row.body)
        configuration = body.get("configuration") or {}
        ranking = configuration.get("rankingRules") or []
        rules = configuration.get("inclusionRules") or []
        found = _Compiled(
            row.criteria_group,
            body,
            compile_rules(rules),
            compile_ranking(ranking) if ranking else None,
            frozenset(str(r["source"].get("type")) for r in rules if r.get("source")),
        )
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[cache_key] = found
    return found


def _visitor(conn: Connection, tenant_id: int, visitor_id: str | None) -> dict[str, Any] | None:
    if not visitor_id:
        return None
    row = conn.execute(
        select(_visitors).where(
            _visitors.c.tenant_id == tenant_id, _visitors.c.visitor == visitor_id[:128]
        )
    ).first()
    if row is None:
        return None
    state = visitor_state(row.state)
    state["last_viewed"] = row.last_viewed
    state["last_purchased"] = row.last_purchased
    return state


def _listed(value: Any) -> list[Any]:
    """A profile attribute's or parameter's values: a JSON array string is its elements (Adobe:
    list operators need JSON arrays), anything else one value."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return [value]
        return parsed if isinstance(parsed, list) else [value]
    return [] if value is None else [value]


def _lookup(
    conn: Connection,
    tenant_id: int,
    visitor_id: str | None,
    parameters: Mapping[str, Any] | None,
    needs_profile: bool,
) -> Lookup:
    """PROFILE sources read the visitor's stored profile (``profile.<name>``, read once, only
    when a rule asks); MBOX sources the call's mbox parameter (``mbox.<name>`` or ``<name>``)."""
    profile: dict[str, Any] | None = None

    def lookup(kind: str, name: str) -> list[Any]:
        nonlocal profile
        if kind == "MBOX":
            return _listed((parameters or {}).get(name.removeprefix("mbox.")))
        if kind != "PROFILE" or not needs_profile or not visitor_id:
            return []
        if profile is None:
            found = find_profile(Session(bind=conn), tenant_id, "tnt", visitor_id)
            profile = {}
            if found is not None:
                attributes = orjson.loads(found.attributes or "{}")
                if isinstance(attributes, dict):
                    profile = {k: v[0] for k, v in attributes.items() if isinstance(v, list) and v}
        return _listed(profile.get(name.removeprefix("profile.")))

    return lookup


def _by_score(scores: dict[str, float]) -> list[str]:
    return [k for k, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def _keys(
    c: _Compiled,
    key_item: Entity | None,
    key_item_id: str | None,
    category: str | None,
    visitor: dict[str, Any] | None,
) -> list[tuple[str, str | None]]:
    """The result keys to read, best first, each with the item id that is its key item."""
    key = c.body.get("key")
    if c.group == "popularity":
        return [("", None)]
    if c.group == "userhistory":
        return []  # read by visitor in ``recommend``
    if c.group == "category":
        if key == "FAVORITE":
            favourites = _by_score(visitor["categories"]) if visitor else []
            return [(f"cat:{name}", None) for name in favourites[:MAX_KEYS]]
        if category is None and key_item is not None and key_item.categories:
            # Adobe: the delivery key is the longest category value (ties: the last one).
            category = max(reversed(key_item.categories), key=len)
        return [(f"cat:{category}", None)] if category else []
    items: list[str] = []
    if key == "CURRENT":
        items = [key_item_id] if key_item_id else []
    elif visitor is not None and key == "LAST_VIEWED":
        items = list(reversed(visitor["recent"]))
    elif visitor is not None and key == "LAST_PURCHASED":
        items = list(reversed(visitor["purchased"]))
    elif visitor is not None and key == "MOST_VIEWED":
        items = _by_score(visitor["views"])
    return [(f"item:{item}", item) for item in items[:MAX_KEYS]]


def _stored(conn: Connection, criteria_id: int, keys: Sequence[str]) -> dict[str, list[str]]:
    if not keys:
        return {}
    rows = conn.execute(
        select(_results.c.key, _results.c["items"]).where(
            _results.c.criteria_id == criteria_id, _results.c.key.in_(list(keys))
        )
    )
    return {key: orjson.loads(items) for key, items in rows}


def _price_ok(entity: Entity, price: dict[str, Any] | None) -> bool:
    if not price:
        return True
    value = entity.attributes.get("value")
    if not isinstance(value, int | float):
        return False
    low, high = price.get("min"), price.get("max")
    return (low is None or value >= low) and (high is None or value <= high)


def _filter(
    c: _Compiled,
    ids: Sequence[str],
    entities: dict[str, Entity],
    key_entity: Entity | None,
    excluded: set[str],
    lookup: Lookup,
    *,
    rules: bool = True,
) -> list[str]:
    body = c.body
    min_inventory = body.get("minInventory")
    price = (body.get("configuration") or {}).get("priceRange")
    kept: list[str] = []
    for item in ids:
        entity = entities.get(item)
        if entity is None or item in excluded:
            continue
        inventory = entity.attributes.get("inventory")
        if min_inventory is not None and isinstance(inventory, int) and inventory < min_inventory:
            continue
        if not _price_ok(entity, price):
            continue
        if rules and not c.include(entity, key_entity, lookup):
            continue
        excluded.add(item)
        kept.append(item)
    return kept


def _shuffled_in_buckets(ids: list[str], rng: random.Random) -> list[str]:
    out: list[str] = []
    for start in range(0, len(ids), BUCKET):
        bucket = ids[start : start + BUCKET]
        rng.shuffle(bucket)
        out += bucket
    return out


def recommend(
    conn: Connection | Session,
    tenant_id: int,
    criteria_id: int,
    *,
    key_item_id: str | None,
    visitor_id: str | None,
    limit: int,
    category: str | None = None,
    environment_id: int | None = None,
    parameters: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
) -> list[str]:
    """Up to ``limit`` entity ids for the criteria (see the module docstring); ``[]`` for an
    unknown criteria, one not trained yet with backup disabled, or too few results without
    ``partialDesignAllowed``.

    ``visitor_id`` is the visitor as the event log records him (``profiles.tnt_key(tntId)``);
    ``category`` is the request's ``entity.categoryId`` for category criteria keyed ``CURRENT``;
    ``parameters`` are the call's mbox parameters, read by rules with an ``MBOX`` source.
    """
    connection = conn.connection() if isinstance(conn, Session) else conn
    row = connection.execute(
        select(_criteria).where(_criteria.c.id == criteria_id, _criteria.c.tenant_id == tenant_id)
    ).first()
    if row is None or limit <= 0:
        return []
    c = _compiled(row)
    body = c.body
    needs_visitor = (
        c.group in ("recent", "userhistory")
        or body.get("key") in ("LAST_VIEWED", "LAST_PURCHASED", "MOST_VIEWED", "FAVORITE")
        or body.get("excludePurchases")
    )
    visitor = _visitor(connection, tenant_id, visitor_id) if needs_visitor else None
    key_item = None
    if key_item_id:
        key_item = get_entities(
            connection, tenant_id, [key_item_id], environment_id=environment_id
        ).get(key_item_id)
    keys = _keys(c, key_item, key_item_id, category, visitor)
    if c.group == "userhistory" and visitor_id:
        keys = [(f"user:{visitor_id[:128]}", None)]
    lists = _stored(connection, criteria_id, [k for k, _ in keys])
    if c.group == "recent" and visitor is not None:
        lists = {"recent": list(reversed(visitor["recent"]))}
        keys = [("recent", None)]
    excluded: set[str] = {key_item_id} if key_item_id else set()
    if visitor is not None and body.get("excludePurchases"):
        excluded.update(visitor["purchased"])
    if visitor is not None and c.group == "userhistory" and body.get("excludeViews"):
        excluded.update(visitor["recent"])
    candidates = {item for ids in lists.values() for item in ids} - excluded
    backup: list[str] = []
    if not body.get("backupDisabled"):
        backup = _stored(connection, criteria_id, ["backup"]).get("backup", [])
        candidates.update(backup)
    entities = get_entities(connection, tenant_id, candidates, environment_id=environment_id)
    lookup = _lookup(connection, tenant_id, visitor_id, parameters, "PROFILE" in c.sources)
    aggregation = body.get("aggregation", "NONE")
    chosen: list[str] = []
    for key, item in keys:
        key_entity = key_item if item in (None, key_item_id) else entities.get(item)
        if item is not None and key_entity is None and item != key_item_id:
            key_entity = get_entities(
                connection, tenant_id, [item], environment_id=environment_id
            ).get(item)
        found = _filter(
            c, lists.get(key, []), entities, key_entity, set(excluded) | set(chosen), lookup
        )
        if aggregation == "ALL_OR_NOTHING":
            if len(found) >= limit:
                chosen = found
                break
            continue
        chosen += found
        if aggregation == "NONE" or len(chosen) >= limit:
            break
    if c.rank is not None:
        boosts = {i: c.rank(entities[i], key_item) for i in chosen}
        chosen = sorted(chosen, key=lambda i: -boosts[i])
    chosen = chosen[:limit]
    if len(chosen) < limit and backup:
        filtering = bool(body.get("backupInclusionFilteringEnabled", True))
        spare = _filter(
            c, backup, entities, key_item, excluded | set(chosen), lookup, rules=filtering
        )
        chosen += _shuffled_in_buckets(spare, rng or random.Random())[: limit - len(chosen)]
    if len(chosen) < limit and not body.get("partialDesignAllowed"):
        return []
    return chosen

"""Training: each criteria's algorithm run over the lookback window into ``recs_results``.

Results are precomputed per key so that serving is a lookup (Adobe: algorithms run every 12 to
24 hours; results exist only after a run). A run replaces a criteria's results in one transaction,
so a delivery call sees the previous run's results or the new ones, never a mix. Every run also
stores the criteria's backup list (key ``backup``): the 500 most viewed items of the last week,
as Adobe fills free slots with them.

Keys of ``recs_results``: ``""`` (popularity), ``item:<entity id>`` (item-based and similarity),
``cat:<category>`` (category), ``user:<visitor>`` (user-based), ``backup``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from scipy import sparse
from sqlalchemy import Connection, Table, delete, func, insert, select, update

from cible.recs.algorithms import (
    als_factors,
    item_item,
    recommend_for_users,
    similar_items,
    tokens_of,
    top_by_group,
    top_counts,
)
from cible.recs.algorithms.cooccurrence import binary_matrix
from cible.recs.catalog import default_environment, row_entity
from cible.recs.tables import (
    RecsBehaviour,
    RecsCriteria,
    RecsEntity,
    RecsItemDay,
    RecsResult,
)

__all__ = ["BACKUP_SIZE", "TOP", "lookback_ms", "train_criteria"]

TOP = 100  # ids kept per key: a design shows at most 99, and filters remove some
BACKUP_SIZE = 500
DAY_MS = 86_400_000
DAYS = {
    "ONE_DAY": 1,
    "TWO_DAYS": 2,
    "ONE_WEEK": 7,
    "TWO_WEEKS": 14,
    "ONE_MONTH": 30,
    "TWO_MONTHS": 61,
}
DEFAULT_DAYS = 30
CHUNK = 1000
# A purchase says more about a visitor's taste than a view (user-based training weights).
BUY_WEIGHT = 3.0

_results: Table = RecsResult.__table__  # type: ignore[assignment]
_behaviour: Table = RecsBehaviour.__table__  # type: ignore[assignment]
_days: Table = RecsItemDay.__table__  # type: ignore[assignment]
_entities: Table = RecsEntity.__table__  # type: ignore[assignment]


def lookback_ms(body: dict[str, Any]) -> int:
    """The criteria's window: ``hoursCount`` (6) or ``daysCount`` (default one month)."""
    if body.get("hoursCount"):
        return int(body["hoursCount"]) * 3_600_000
    return DAYS.get(str(body.get("daysCount")), DEFAULT_DAYS) * DAY_MS


def _counts(
    conn: Connection, tenant_id: int, since_ms: int, column: str, exact: bool = False
) -> dict[str, int]:
    """Views or buys per item since ``since_ms``: whole days from the daily aggregate, or, when
    ``exact`` (windows shorter than a day), the behaviour rows themselves."""
    if exact:
        kind = "view" if column == "views" else "buy"
        rows = conn.execute(
            select(_behaviour.c.entity_id, func.count())
            .where(
                _behaviour.c.tenant_id == tenant_id,
                _behaviour.c.kind == kind,
                _behaviour.c.occurred_ms >= since_ms,
            )
            .group_by(_behaviour.c.entity_id)
        )
    else:
        rows = conn.execute(
            select(_days.c.entity_id, func.sum(_days.c[column]))
            .where(_days.c.tenant_id == tenant_id, _days.c.day >= since_ms // DAY_MS)
            .group_by(_days.c.entity_id)
        )
    return {entity: int(count or 0) for entity, count in rows}


def _events(
    conn: Connection, tenant_id: int, since_ms: int
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Visitors, items, and per event: visitor index, item index, is-a-purchase; time order."""
    visitors: dict[str, int] = {}
    items: dict[str, int] = {}
    v_index: list[int] = []
    i_index: list[int] = []
    bought: list[bool] = []
    rows = conn.execute(
        select(_behaviour.c.visitor, _behaviour.c.entity_id, _behaviour.c.kind)
        .where(_behaviour.c.tenant_id == tenant_id, _behaviour.c.occurred_ms >= since_ms)
        .order_by(_behaviour.c.occurred_ms, _behaviour.c.id)
        .execution_options(yield_per=10_000)
    )
    for visitor, entity, kind in rows:
        v_index.append(visitors.setdefault(visitor, len(visitors)))
        i_index.append(items.setdefault(entity, len(items)))
        bought.append(kind == "buy")
    return (
        list(visitors),
        list(items),
        np.asarray(v_index, dtype=np.int64),
        np.asarray(i_index, dtype=np.int64),
        np.asarray(bought, dtype=bool),
    )


def _item_based(conn: Connection, tenant_id: int, kind: str, since_ms: int) -> dict[str, list[str]]:
    visitors, items, v, i, bought = _events(conn, tenant_id, since_ms)
    if not items:
        return {}
    shape = (len(visitors), len(items))
    views = binary_matrix(v[~bought], i[~bought], shape)
    buys = binary_matrix(v[bought], i[bought], shape)
    key, recommended = {
        "VIEWED_CF": (views, views),
        "VIEWED_BOUGHT": (views, buys),
        "BOUGHT_CF": (buys, buys),
    }[kind]
    neighbours = item_item(key, recommended, TOP)
    return {f"item:{items[k]}": [items[j] for j in js] for k, js in neighbours.items()}


def _user_based(conn: Connection, tenant_id: int, since_ms: int) -> dict[str, list[str]]:
    visitors, items, v, i, bought = _events(conn, tenant_id, since_ms)
    if not items:
        return {}
    weights = np.where(bought, BUY_WEIGHT, 1.0)
    counts = sparse.csr_matrix((weights, (v, i)), shape=(len(visitors), len(items)))
    counts.sum_duplicates()
    users, factors = als_factors(counts, factors=min(32, max(2, len(items) // 2)))
    best = recommend_for_users(users, factors, counts, TOP, exclude_seen=False)
    return {f"user:{visitors[u]}": [items[j] for j in js] for u, js in best.items()}


def _catalog(conn: Connection, tenant_id: int) -> list[Any]:
    environment = default_environment(conn, tenant_id)
    rows = conn.execute(
        select(_entities)
        .where(_entities.c.tenant_id == tenant_id, _entities.c.environment_id == environment)
        .order_by(_entities.c.id)
        .execution_options(yield_per=10_000)
    )
    return [row_entity(row) for row in rows]


def _similarity(conn: Connection, tenant_id: int, body: dict[str, Any]) -> dict[str, list[str]]:
    entities = _catalog(conn, tenant_id)
    documents = [tokens_of(e.name, e.categories, e.attributes) for e in entities]
    minimum = float((body.get("configuration") or {}).get("minSimilarity") or 0.4)
    neighbours = similar_items(documents, TOP, minimum)
    return {f"item:{entities[k].id}": [entities[j].id for j in js] for k, js in neighbours.items()}


def _category(
    conn: Connection, tenant_id: int, column: str, since_ms: int, exact: bool
) -> dict[str, list[str]]:
    counts = _counts(conn, tenant_id, since_ms, column, exact)
    groups: dict[str, tuple[str, ...]] = defaultdict(tuple)
    for entity in _catalog(conn, tenant_id):
        if entity.id in counts:
            groups[entity.id] = entity.categories
    return {f"cat:{c}": ids for c, ids in top_by_group(counts, groups, TOP).items()}


def compute(
    conn: Connection, tenant_id: int, group: str, body: dict[str, Any], now_ms: int
) -> dict[str, list[str]]:
    """The results of one criteria, by key (see the module docstring)."""
    window = lookback_ms(body)
    since, exact = now_ms - window, window < DAY_MS
    kind = str(body.get("type") or "")
    results: dict[str, list[str]] = {}
    if group == "popularity":
        column = "buys" if kind == "SELLERS" else "views"
        results[""] = top_counts(_counts(conn, tenant_id, since, column, exact), TOP)
    elif group == "category":
        column = "buys" if kind == "BOUGHT" else "views"
        results = _category(conn, tenant_id, column, since, exact)
    elif group == "item" and kind == "SIMILARITY":
        results = _similarity(conn, tenant_id, body)
    elif group == "item":
        results = _item_based(conn, tenant_id, kind, since)
    elif group == "userhistory":
        results = _user_based(conn, tenant_id, since)
    # "recent" needs no training: it reads the visitor's own history when serving.
    week = _counts(conn, tenant_id, now_ms - 7 * DAY_MS, "views")
    results["backup"] = top_counts(week, BACKUP_SIZE)
    return results


def train_criteria(conn: Connection, tenant_id: int, criteria_id: int, now: datetime) -> int:
    """Train one criteria and replace its stored results; the number of keys stored."""
    row = conn.execute(
        select(RecsCriteria.criteria_group, RecsCriteria.body).where(
            RecsCriteria.id == criteria_id, RecsCriteria.tenant_id == tenant_id
        )
    ).first()
    if row is None:
        return 0  # deleted since the job was queued
    now_ms = int(now.timestamp() * 1000)
    results = compute(conn, tenant_id, row.criteria_group, orjson.loads(row.body), now_ms)
    conn.execute(delete(_results).where(_results.c.criteria_id == criteria_id))
    values = [
        {
            "criteria_id": criteria_id,
            "tenant_id": tenant_id,
            "key": key,
            "items": orjson.dumps(ids).decode(),
            "trained_ms": now_ms,
        }
        for key, ids in results.items()
        if ids and len(key) <= 1008
    ]
    for start in range(0, len(values), CHUNK):
        conn.execute(insert(_results), values[start : start + CHUNK])
    conn.execute(
        update(RecsCriteria)
        .where(RecsCriteria.id == criteria_id)
        .values(trained_at=now, train_status="SUCCESS")
    )
    return len(values)

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

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from scipy import sparse
from sqlalchemy import Connection, Table, and_, delete, func, insert, or_, select, update

from cible.recs.algorithms import (
    als_factors,
    recommend_for_users,
    similar_items,
    tokens_of,
    top_by_group,
    top_counts,
)
from cible.recs.algorithms import cooccurrence as cooccurrence_module
from cible.recs.algorithms.cooccurrence import binary_matrix, cooccurrence, rank_pairs
from cible.recs.catalog import default_environment, row_entity
from cible.recs.tables import (
    RecsBehaviour,
    RecsCriteria,
    RecsEntity,
    RecsItemDay,
    RecsModel,
    RecsResult,
)

__all__ = [
    "BACKUP_SIZE",
    "BEHAVIOUR_RETENTION_MS",
    "TOP",
    "lookback_ms",
    "train_criteria",
]

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
# Behaviour is kept one day longer than the longest lookback (61 days), so that a model made
# up to a day ago still finds the events it counted and can be updated rather than redone.
BEHAVIOUR_RETENTION_MS = 62 * DAY_MS
CHUNK = 1000
# A purchase says more about a visitor's taste than a view (user-based training weights).
BUY_WEIGHT = 3.0

_results: Table = RecsResult.__table__  # type: ignore[assignment]
_behaviour: Table = RecsBehaviour.__table__  # type: ignore[assignment]
_days: Table = RecsItemDay.__table__  # type: ignore[assignment]
_entities: Table = RecsEntity.__table__  # type: ignore[assignment]
_models: Table = RecsModel.__table__  # type: ignore[assignment]


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
    conn: Connection, tenant_id: int, since_ms: int, through_id: int | None = None
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Visitors, items, and per event: visitor index, item index, is-a-purchase; time order."""
    visitors: dict[str, int] = {}
    items: dict[str, int] = {}
    v_index: list[int] = []
    i_index: list[int] = []
    bought: list[bool] = []
    query = select(_behaviour.c.visitor, _behaviour.c.entity_id, _behaviour.c.kind).where(
        _behaviour.c.tenant_id == tenant_id, _behaviour.c.occurred_ms >= since_ms
    )
    if through_id is not None:
        query = query.where(_behaviour.c.id <= through_id)
    rows = conn.execute(
        query.order_by(_behaviour.c.occurred_ms, _behaviour.c.id).execution_options(
            yield_per=10_000
        )
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


def _sides(
    kind: str, v: np.ndarray, i: np.ndarray, bought: np.ndarray, shape: tuple[int, int]
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The key and recommended visitor x item matrices of an item-based algorithm."""
    views = binary_matrix(v[~bought], i[~bought], shape)
    buys = binary_matrix(v[bought], i[bought], shape)
    return {
        "VIEWED_CF": (views, views),
        "VIEWED_BOUGHT": (views, buys),
        "BOUGHT_CF": (buys, buys),
    }[kind]


@dataclass
class _CoModel:
    """An item-based criteria's counts over its window (see :func:`_item_based`)."""

    items: list[str]
    pairs: sparse.csr_matrix
    key_counts: np.ndarray
    rec_counts: np.ndarray

    def dump(self) -> bytes:
        out = io.BytesIO()
        np.savez(
            out,
            items=np.frombuffer(orjson.dumps(self.items), dtype=np.uint8),
            data=self.pairs.data,
            indices=self.pairs.indices,
            indptr=self.pairs.indptr,
            key_counts=self.key_counts,
            rec_counts=self.rec_counts,
        )
        return out.getvalue()

    @classmethod
    def load(cls, blob: bytes) -> _CoModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as stored:
            items: list[str] = orjson.loads(stored["items"].tobytes())
            n = len(items)
            pairs = sparse.csr_matrix(
                (stored["data"], stored["indices"], stored["indptr"]), shape=(n, n)
            )
            return cls(items, pairs, stored["key_counts"], stored["rec_counts"])


def _full_item_based(
    conn: Connection, tenant_id: int, kind: str, since_ms: int, through_id: int
) -> _CoModel:
    visitors, items, v, i, bought = _events(conn, tenant_id, since_ms, through_id)
    key, recommended = _sides(kind, v, i, bought, (len(visitors), len(items)))
    return _CoModel(items, *cooccurrence(key, recommended))


def _changed_visitors(
    conn: Connection, tenant_id: int, model: Any, since_ms: int, through_id: int
) -> list[str]:
    """Visitors with behaviour since the last run, or whose behaviour left the window since."""
    b = _behaviour.c
    added = and_(b.id > model.through_id, b.id <= through_id)
    expired = and_(
        b.occurred_ms >= model.since_ms, b.occurred_ms < since_ms, b.id <= model.through_id
    )
    rows = conn.execute(
        select(b.visitor).where(b.tenant_id == tenant_id, or_(added, expired)).distinct()
    )
    return sorted(visitor for (visitor,) in rows)


def _update_item_based(
    conn: Connection,
    tenant_id: int,
    kind: str,
    stored: Any,
    since_ms: int,
    through_id: int,
) -> _CoModel:
    """The stored counts moved to the new window: for each visitor whose behaviour changed, the
    pairs and counts of his old window are subtracted and those of the new one added. Exact:
    the counts are sums over visitors, and only these visitors' rows differ."""
    model = _CoModel.load(stored.state)
    index = {item: n for n, item in enumerate(model.items)}
    b = _behaviour.c
    changed = _changed_visitors(conn, tenant_id, stored, since_ms, through_id)
    deltas: list[tuple[sparse.csr_matrix, np.ndarray, np.ndarray]] = []
    for start in range(0, len(changed), CHUNK):
        chunk = changed[start : start + CHUNK]
        position = {visitor: n for n, visitor in enumerate(chunk)}
        rows = conn.execute(
            select(b.visitor, b.entity_id, b.kind, b.occurred_ms, b.id)
            .where(
                b.tenant_id == tenant_id,
                b.visitor.in_(chunk),
                b.occurred_ms >= stored.since_ms,
                b.id <= through_id,
            )
            .order_by(b.occurred_ms, b.id)
        ).all()
        v = np.asarray([position[r.visitor] for r in rows], dtype=np.int64)
        i = np.asarray([index.setdefault(r.entity_id, len(index)) for r in rows], dtype=np.int64)
        bought = np.asarray([r.kind == "buy" for r in rows], dtype=bool)
        before = np.asarray([r.id <= stored.through_id for r in rows], dtype=bool)
        after = np.asarray([r.occurred_ms >= since_ms for r in rows], dtype=bool)
        for sign, keep in ((-1.0, before), (1.0, after)):
            shape = (len(chunk), len(index))
            key, recommended = _sides(kind, v[keep], i[keep], bought[keep], shape)
            pairs, key_counts, rec_counts = cooccurrence(key, recommended)
            deltas.append((pairs * sign, key_counts * sign, rec_counts * sign))
    n = len(index)
    pairs = model.pairs.copy()
    pairs.resize((n, n))
    key_counts = np.pad(model.key_counts, (0, n - len(model.key_counts)))
    rec_counts = np.pad(model.rec_counts, (0, n - len(model.rec_counts)))
    for delta, key_delta, rec_delta in deltas:
        grown = delta.tocsr()
        grown.resize((n, n))
        pairs = pairs + grown
        key_counts = key_counts + np.pad(key_delta, (0, n - len(key_delta)))
        rec_counts = rec_counts + np.pad(rec_delta, (0, n - len(rec_delta)))
    pairs = pairs.tocsr()
    pairs.eliminate_zeros()
    return _CoModel(list(index), pairs, key_counts, rec_counts)


def _item_based(
    conn: Connection,
    tenant_id: int,
    criteria_id: int,
    kind: str,
    since_ms: int,
    now_ms: int,
    window_ms: int,
) -> dict[str, list[str]]:
    """Item-item results, trained incrementally where possible (issue: "incrementally where
    possible"): the co-occurrence counts of the last run are kept (``recs_models``) and moved to
    the new window by re-reading only the behaviour of visitors that changed. A full run reads
    the whole window: the first time, after the algorithm or window changed, after the clock
    went back, or when behaviour the last window held may have been deleted since (retention;
    a privacy deletion drops the tenant's models)."""
    through_id = int(
        conn.scalar(select(func.max(_behaviour.c.id)).where(_behaviour.c.tenant_id == tenant_id))
        or 0
    )
    # Counts made with another per-visitor cap would not add up with new ones.
    signature = f"{kind}/{window_ms}/{cooccurrence_module.MAX_ITEMS_PER_VISITOR}"
    stored = conn.execute(select(_models).where(_models.c.criteria_id == criteria_id)).first()
    usable = (
        stored is not None
        and stored.signature == signature
        and stored.since_ms <= since_ms
        and stored.since_ms >= now_ms - BEHAVIOUR_RETENTION_MS
        and stored.through_id <= through_id
    )
    if usable:
        model = _update_item_based(conn, tenant_id, kind, stored, since_ms, through_id)
    else:
        model = _full_item_based(conn, tenant_id, kind, since_ms, through_id)
    conn.execute(delete(_models).where(_models.c.criteria_id == criteria_id))
    conn.execute(
        insert(_models).values(
            criteria_id=criteria_id,
            tenant_id=tenant_id,
            signature=signature,
            through_id=through_id,
            since_ms=since_ms,
            state=model.dump(),
        )
    )
    # Ranked in entity id order, so equal scores break ties by id, as a full run's would
    # however the items were first met.
    order = np.argsort(np.asarray(model.items, dtype=object), kind="stable")
    items = [model.items[k] for k in order]
    pairs = model.pairs[order][:, order]
    neighbours = rank_pairs(pairs, model.key_counts[order], model.rec_counts[order], TOP)
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
    conn: Connection,
    tenant_id: int,
    criteria_id: int,
    group: str,
    body: dict[str, Any],
    now_ms: int,
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
        results = _item_based(conn, tenant_id, criteria_id, kind, since, now_ms, window)
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
    results = compute(
        conn, tenant_id, criteria_id, row.criteria_group, orjson.loads(row.body), now_ms
    )
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

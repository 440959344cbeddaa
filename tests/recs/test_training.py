"""Training on stored behaviour: item-based criteria are updated incrementally, and the update
gives exactly what a full run over the new window gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy import delete, insert, select

from cible.recs import training
from cible.recs.algorithms import cooccurrence
from cible.recs.tables import RecsBehaviour, RecsCriteria, RecsModel, RecsResult
from cible.store import Database
from cible.tenants import service as tenants

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
HOUR_MS = 3_600_000


def _tenant(database: Database) -> int:
    with database.session() as s:
        return tenants.create_tenant(s, "shop").id


def _criteria(database: Database, tenant: int, name: str, kind: str, days: str) -> int:
    body = {"name": name, "type": kind, "key": "CURRENT", "daysCount": days}
    with database.engine.begin() as conn:
        return int(
            conn.execute(
                insert(RecsCriteria).values(
                    tenant_id=tenant,
                    criteria_group="item",
                    name=name,
                    body=orjson.dumps(body).decode(),
                    modified_at=NOW,
                )
            ).inserted_primary_key[0]
        )


def _behaviour(
    database: Database, tenant: int, rng: np.random.Generator, visitors: range, start: datetime
) -> None:
    """Random views and purchases over 30 hours from ``start``: 12 items in 3 groups, each
    visitor mostly in one group (so there are pairs worth ranking)."""
    rows = []
    base = int(start.timestamp() * 1000)
    for visitor in visitors:
        group = visitor % 3
        for _ in range(int(rng.integers(1, 9))):
            item = group * 4 + int(rng.integers(4)) if rng.random() < 0.8 else int(rng.integers(12))
            rows.append(
                {
                    "tenant_id": tenant,
                    "visitor": f"v{visitor}",
                    "entity_id": f"i{item}",
                    "kind": "buy" if rng.random() < 0.3 else "view",
                    "occurred_ms": base + int(rng.integers(30 * HOUR_MS)),
                }
            )
    with database.engine.begin() as conn:
        conn.execute(insert(RecsBehaviour), rows)


def _results(database: Database, criteria: int) -> dict[str, list[str]]:
    with database.engine.connect() as conn:
        rows = conn.execute(
            select(RecsResult.key, RecsResult.items).where(RecsResult.criteria_id == criteria)
        )
        return {key: orjson.loads(items) for key, items in rows}


def _train(database: Database, tenant: int, criteria: int, now: datetime) -> None:
    with database.engine.begin() as conn:
        training.train_criteria(conn, tenant, criteria, now)


@pytest.mark.parametrize("kind", ["VIEWED_CF", "VIEWED_BOUGHT", "BOUGHT_CF"])
def test_an_incremental_run_equals_a_full_run(
    database: Database, monkeypatch: Any, kind: str
) -> None:
    # A cap of 4 items per visitor, so the visitors' last-items rule is part of what must add up.
    monkeypatch.setattr(cooccurrence, "MAX_ITEMS_PER_VISITOR", 4)
    tenant = _tenant(database)
    rng = np.random.default_rng(11)
    incremental = _criteria(database, tenant, "kept", kind, "ONE_DAY")
    _behaviour(database, tenant, rng, range(40), NOW - timedelta(hours=30))
    _train(database, tenant, incremental, NOW)
    first = _results(database, incremental)
    assert first and first["item:i0"]
    # New behaviour: returning visitors, new ones, new items, late events inside and outside
    # the window; ten hours on, part of the first window has expired.
    later = NOW + timedelta(hours=10)
    _behaviour(database, tenant, rng, range(30, 70), NOW - timedelta(hours=20))
    with database.engine.begin() as conn:
        conn.execute(
            insert(RecsBehaviour),
            [
                {
                    "tenant_id": tenant,
                    "visitor": "v1",
                    "entity_id": "i99",
                    "kind": "view",
                    "occurred_ms": int(later.timestamp() * 1000) - 1000,
                },
                {
                    "tenant_id": tenant,
                    "visitor": "v2",
                    "entity_id": "i98",
                    "kind": "buy",
                    "occurred_ms": int((NOW - timedelta(days=3)).timestamp() * 1000),
                },
            ],
        )
    full = _criteria(database, tenant, "fresh", kind, "ONE_DAY")
    _train(database, tenant, full, later)

    def no_full_run(*args: Any) -> Any:
        raise AssertionError("the stored model should have been updated, not rebuilt")

    monkeypatch.setattr(training, "_full_item_based", no_full_run)
    _train(database, tenant, incremental, later)
    updated = _results(database, incremental)
    assert updated == _results(database, full)
    assert updated != first


def test_a_changed_window_or_a_lost_model_means_a_full_run(database: Database) -> None:
    tenant = _tenant(database)
    rng = np.random.default_rng(3)
    criteria = _criteria(database, tenant, "views", "VIEWED_CF", "ONE_DAY")
    _behaviour(database, tenant, rng, range(20), NOW - timedelta(hours=30))
    _train(database, tenant, criteria, NOW)
    with database.engine.connect() as conn:
        model = conn.execute(select(RecsModel).where(RecsModel.criteria_id == criteria)).one()
    assert model.signature.startswith("VIEWED_CF/86400000/")
    # A longer window: the stored counts do not apply; a full run stores the new signature.
    with database.engine.begin() as conn:
        body = {"name": "views", "type": "VIEWED_CF", "key": "CURRENT", "daysCount": "ONE_WEEK"}
        conn.execute(
            RecsCriteria.__table__.update()
            .where(RecsCriteria.id == criteria)
            .values(body=orjson.dumps(body).decode())
        )
    _train(database, tenant, criteria, NOW)
    with database.engine.connect() as conn:
        model = conn.execute(select(RecsModel).where(RecsModel.criteria_id == criteria)).one()
    assert model.signature.startswith("VIEWED_CF/604800000/")
    week = _results(database, criteria)
    with database.engine.begin() as conn:
        conn.execute(delete(RecsModel))
    _train(database, tenant, criteria, NOW)
    assert _results(database, criteria) == week

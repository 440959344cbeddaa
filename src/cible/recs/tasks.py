"""Recommendations jobs: training criteria (``recs.train``) and catalog feeds (``recs.feed``).

``recs.train`` with ``{"tenant", "criteria"}`` trains one criteria (queued when it is saved);
without them it trains every criteria of every tenant (the hourly schedule), then drops what has
aged out: behaviour older than the longest lookback (61 days) plus one day (so that incremental
training finds what its last run counted) and, as Adobe does, entities not updated for 61
days. Each criteria commits on its own, so one failure does not hold back the rest.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from cible.jobs import task
from cible.recs.feeds import FEED_JOB, run_feed
from cible.recs.tables import RecsBehaviour, RecsCriteria, RecsEntity
from cible.recs.training import BEHAVIOUR_RETENTION_MS, train_criteria
from cible.store import Database
from cible.store.base import utcnow

__all__ = ["RETENTION", "TRAIN", "feed", "train"]

TRAIN = "recs.train"
# Adobe: entity data expires after 61 days.
RETENTION = timedelta(days=61)
log = logging.getLogger(__name__)


@task(TRAIN)
def train(db: Database, payload: dict[str, Any]) -> None:
    now = utcnow()
    tenant, criteria = payload.get("tenant"), payload.get("criteria")
    if tenant is not None and criteria is not None:
        with db.engine.begin() as conn:
            train_criteria(conn, int(tenant), int(criteria), now)
        return
    with db.engine.begin() as conn:
        cutoff_ms = int(now.timestamp() * 1000) - BEHAVIOUR_RETENTION_MS
        conn.execute(delete(RecsBehaviour).where(RecsBehaviour.occurred_ms < cutoff_ms))
        conn.execute(delete(RecsEntity).where(RecsEntity.updated_at < now - RETENTION))
        every = conn.execute(select(RecsCriteria.tenant_id, RecsCriteria.id)).all()
    failed = 0
    for tenant_id, criteria_id in every:
        try:
            with db.engine.begin() as conn:
                train_criteria(conn, tenant_id, criteria_id, now)
        except Exception:
            failed += 1
            log.exception("training criteria %s failed", criteria_id)
    if failed:
        raise RuntimeError(f"{failed} of {len(every)} criteria failed to train")


@task(FEED_JOB)
def feed(db: Database, payload: dict[str, Any]) -> None:
    """One run of a catalog feed (``cible.recs.feeds.run_feed``); the feed row keeps the outcome."""
    run_feed(db, int(payload["feed"]))

"""Hourly reallocation of auto-allocate activities, and the history of their weights.

Each round reads every experience's visitors and conversions of the optimised metric (default
environment only: Adobe trains its model on the default environment), asks
``cible.reports.stats.allocate`` for weights, writes them as the experiences'
``visitorPercentage`` (whole percents, every experience keeping at least 1 %) and records the
round in ``report_allocations``. A changed split goes through the changelog and an artifact
rebuild like any edit; the delivery API keeps each returning visitor's experience (sticky
assignment), so only new visitors follow the new weights. docs/reports.md, "Auto-allocate".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from cible.activities import publish
from cible.activities.abxt import changelog
from cible.activities.abxt._render import definition, snapshot
from cible.activities.abxt.tables import Activity
from cible.activities.environments.tables import Environment
from cible.isotime import iso_millis
from cible.reports import stats
from cible.reports._aggregate import ENTRY, ORDER
from cible.reports.service import metric_keys
from cible.reports.tables import report_allocations, report_daily

__all__ = ["CLIENT_ID", "auto_allocate_activities", "history", "percentages", "reallocate"]

CLIENT_ID = "cible.reports"  # who the changelog says changed the split


def percentages(weights: Sequence[float], floor: int = 1) -> list[int]:
    """Whole percents summing to 100, each at least ``floor``, by largest remainder."""
    k = len(weights)
    spare = 100 - floor * k
    if spare < 0:
        raise ValueError("too many experiences for the floor")
    raw = [max(w, 0.0) * spare for w in weights]
    base = [math.floor(r) for r in raw]
    order = sorted(range(k), key=lambda i: raw[i] - base[i], reverse=True)
    for i in order[: spare - sum(base)]:
        base[i] += 1
    return [b + floor for b in base]


def auto_allocate_activities(session: Session, tenant_id: int | None = None) -> list[Activity]:
    """Approved A/B activities with ``autoAllocate.enabled``."""
    query = select(Activity).where(Activity.type == "ab", Activity.state == "approved")
    if tenant_id is not None:
        query = query.where(Activity.tenant_id == tenant_id)
    # A cheap pre-filter; the JSON decides.
    query = query.where(Activity.definition.contains('"autoAllocate"'))
    return [
        a
        for a in session.scalars(query)
        if (definition(a).get("autoAllocate") or {}).get("enabled") is True
    ]


def _counts(
    session: Session, activity: Activity, keys: list[str], experiences: list[int]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    default = session.scalar(
        select(Environment.id).where(
            Environment.tenant_id == activity.tenant_id, Environment.is_default.is_(True)
        )
    )
    d = report_daily.c
    rows = session.execute(
        select(d.experience_id, d.metric, func.sum(d.visitors))
        .where(
            d.tenant_id == activity.tenant_id,
            d.activity_id == activity.id,
            d.environment_id.in_([0, default or 0]),
            d.metric.in_([ENTRY, *keys]),
        )
        .group_by(d.experience_id, d.metric)
    ).all()
    visitors = dict.fromkeys(experiences, 0.0)
    conversions = dict.fromkeys(experiences, 0.0)
    for exp, metric, total in rows:
        if exp not in visitors:
            continue
        if metric == ENTRY:
            visitors[exp] += float(total or 0)
        else:
            conversions[exp] += float(total or 0)
    return (
        np.array([visitors[e] for e in experiences], dtype=np.float64),
        np.array([conversions[e] for e in experiences], dtype=np.float64),
    )


def reallocate(session: Session, activity: Activity, now: datetime) -> dict[str, Any] | None:
    """Runs one round for ``activity``; the round as ``history`` renders it, or None when the
    activity has fewer than two experiences."""
    body = definition(activity)
    auto = body.get("autoAllocate") or {}
    experiences = [e for e in body.get("experiences") or [] if "experienceLocalId" in e]
    if len(experiences) < 2:
        return None
    metrics = body.get("metrics") or []
    wanted = auto.get("metricLocalId")
    metric = next((m for m in metrics if m.get("metricLocalId") == wanted), None)
    if metric is None:
        metric = next((m for m in metrics if m.get("conversion")), metrics[0] if metrics else {})
    criteria = auto.get("successEvaluationCriteria", "conversion_rate")
    # Revenue criteria optimise the share of visitors who order (bounded in [0, 1] as the
    # Bernstein interval needs); engagement ones the metric's conversions.
    keys = [ORDER] if criteria == "rpv" else metric_keys(metric, body)
    ids = [int(e["experienceLocalId"]) for e in experiences]
    visitors, conversions = _counts(session, activity, keys, ids)
    algorithm = auto.get("algorithm") or "adobe"
    # Thompson draws are seeded by activity and hour: a retried job computes the same round.
    seed = hashlib.sha256(f"{activity.id}:{now:%Y-%m-%dT%H}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(seed[:8], "big"))
    result = stats.allocate(visitors, conversions, algorithm=algorithm, rng=rng)
    shares = percentages(result.weights.tolist())
    before = snapshot(activity)
    changed = False
    for experience, share in zip(experiences, shares, strict=True):
        if experience.get("visitorPercentage") != share:
            experience["visitorPercentage"] = share
            changed = True
    if changed:
        activity.definition = orjson.dumps(
            {k: v for k, v in body.items() if k not in ("id",)}
        ).decode()
        activity.modified_at = now
        activity.modified_by = CLIENT_ID
        changelog.record(
            session, activity.id, CLIENT_ID, now, changelog.diff(before, snapshot(activity))
        )
        if activity.published:
            publish.request_rebuild(session, activity.tenant_id)
    winner = ids[result.winner] if result.winner is not None else None
    rows = [
        {
            "experienceLocalId": exp,
            "weight": float(w),
            "visitorPercentage": share,
            "visitors": int(n),
            "conversions": int(c),
        }
        for exp, w, share, n, c in zip(
            ids, result.weights.tolist(), shares, visitors, conversions, strict=True
        )
    ]
    computed_ms = int(now.timestamp() * 1000)
    session.execute(
        insert(report_allocations).values(
            tenant_id=activity.tenant_id,
            activity_id=activity.id,
            computed_ms=computed_ms,
            algorithm=algorithm,
            phase=result.phase,
            winner=winner,
            weights=orjson.dumps(rows).decode(),
        )
    )
    session.flush()
    return _round(computed_ms, algorithm, result.phase, winner, rows)


def _round(
    computed_ms: int, algorithm: str, phase: str, winner: int | None, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "computedAt": iso_millis(datetime.fromtimestamp(computed_ms / 1000, UTC)),
        "algorithm": algorithm,
        "phase": phase,
        "winnerExperienceLocalId": winner,
        "experiences": rows,
    }


def history(
    session: Session, activity: Activity, offset: int, limit: int
) -> tuple[list[object], int]:
    """The activity's rounds, newest first."""
    a = report_allocations.c
    where = (a.tenant_id == activity.tenant_id) & (a.activity_id == activity.id)
    total = session.scalar(select(func.count()).select_from(report_allocations).where(where))
    rows = session.execute(
        select(a.computed_ms, a.algorithm, a.phase, a.winner, a.weights)
        .where(where)
        .order_by(a.computed_ms.desc(), a.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [_round(r[0], r[1], r[2], r[3], orjson.loads(r[4])) for r in rows], int(total or 0)

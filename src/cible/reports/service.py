"""Activity reports: the counts Adobe Target reports, and Cible's statistics beside them.

Counts come from ``report_daily`` (one grouped ``SUM``, whatever the traffic); per-visitor rows
are read only for what needs them (winsorised revenue, CUPED). With ``reportingAudienceLocalId``
the same reads go to ``report_audience_daily`` and to the visitors ``report_audience_visitors``
names, so every number counts only the visitors who qualified for that reporting audience. The
wire shape is Adobe's performance and orders reports (Admin API, "Reports"); every added field is
in docs/reports.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from cible.activities.abxt import service as activities
from cible.activities.abxt._dates import parse_date
from cible.activities.abxt._render import definition
from cible.activities.abxt.tables import Activity
from cible.activities.environments.tables import Environment
from cible.artifacts import DEFAULT_GLOBAL_MBOX
from cible.delivery.tables import Event
from cible.errors import BadRequest
from cible.isotime import iso_millis
from cible.reports import stats
from cible.reports._aggregate import DAY_MS, ENTRY, ORDER, REJECTED
from cible.reports._analysis import Arm, Options, analyse
from cible.reports.tables import (
    report_allocations,
    report_audience_daily,
    report_audience_visitors,
    report_daily,
    report_orders,
    report_visitors,
)
from cible.tenants.principal import Principal

__all__ = ["COUNTING", "ReportQuery", "orders_report", "parse_query", "performance_report"]

COUNTING = ("visitor", "visit", "impression")
UNITS = (("visitor", "visitors"), ("visit", "visits"), ("impression", "impressions"))


@dataclass(frozen=True)
class ReportQuery:
    """The report's query parameters, validated (docs/reports.md, "Query parameters")."""

    interval: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    environment_id: int | None = None
    counting: str = "visitor"
    metric_local_id: int | None = None
    control: int | None = None
    correction: str = "holm"
    winsorize: float | None = None
    cuped: bool = False
    minimum_lift: float = 0.05
    resolution: str | None = None
    reporting_audience: int | None = None


def _int(params: Mapping[str, str], name: str, problems: list[tuple[str, str]]) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        problems.append((name, f"not an integer: {raw!r}"))
        return None
    if not -(2**63) <= value < 2**63:
        problems.append((name, "out of range"))
        return None
    return value


def _float(
    params: Mapping[str, str], name: str, low: float, high: float, problems: list[tuple[str, str]]
) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low < value <= high:
        problems.append((name, f"a number in ({low:g}, {high:g}] is expected, got {raw!r}"))
        return None
    return value


def parse_query(params: Mapping[str, str]) -> ReportQuery:
    """The query parameters of a report call; one 400 listing every invalid one."""
    problems: list[tuple[str, str]] = []
    interval, start, end = params.get("reportInterval"), None, None
    if interval is not None:
        first, sep, last = interval.partition("/")
        try:
            if not sep:
                raise ValueError("use start/end, e.g. 2026-03-01T00:00Z/2026-04-01T00:00Z")
            start = int(parse_date(first).timestamp() * 1000)
            end = int(parse_date(last).timestamp() * 1000)
            if end <= start:
                raise ValueError("the end must be after the start")
        except ValueError as exc:
            problems.append(("reportInterval", str(exc)))
    counting = params.get("countingMethod", "visitor")
    if counting not in COUNTING:
        problems.append(("countingMethod", f"one of {', '.join(COUNTING)} is expected"))
    correction = params.get("correction", "holm")
    if correction not in stats.CORRECTIONS:
        problems.append(("correction", f"one of {', '.join(stats.CORRECTIONS)} is expected"))
    cuped = params.get("cuped", "false").lower()
    if cuped not in ("true", "false"):
        problems.append(("cuped", "true or false is expected"))
    resolution = params.get("resolution")
    if resolution not in (None, "day"):
        problems.append(("resolution", "only day is supported"))
    query = ReportQuery(
        interval=interval,
        start_ms=start,
        end_ms=end,
        environment_id=_int(params, "environmentId", problems),
        counting=counting,
        metric_local_id=_int(params, "metricLocalId", problems),
        control=_int(params, "controlExperienceLocalId", problems),
        correction=correction,
        winsorize=_float(params, "winsorizePercentile", 0.0, 100.0, problems),
        cuped=cuped == "true",
        minimum_lift=_float(params, "minimumDetectableLift", 0.0, 10.0, problems) or 0.05,
        resolution=resolution,
        reporting_audience=_int(params, "reportingAudienceLocalId", problems),
    )
    if problems:
        raise BadRequest.fields(problems)
    return query


@dataclass(frozen=True)
class _Scope:
    """What a report reads: one activity, its environment filter and its day range."""

    tenant_id: int
    activity_id: int
    environments: tuple[int, ...]
    environment_id: int
    first_day: int | None
    last_day: int | None
    start_ms: int | None
    end_ms: int | None
    # A reporting audience's local id: only the visitors who qualified for it count.
    audience: int | None = None

    @property
    def table(self) -> Any:
        """The daily counts the report reads: every visitor's, or one reporting audience's."""
        return report_daily if self.audience is None else report_audience_daily

    def members(self) -> Any:
        """The visitors of the reporting audience (a subquery)."""
        q = report_audience_visitors.c
        return select(q.visitor).where(
            q.tenant_id == self.tenant_id,
            q.activity_id == self.activity_id,
            q.reporting_audience == self.audience,
        )

    def daily(self) -> Any:
        d = self.table.c
        clauses = [
            d.tenant_id == self.tenant_id,
            d.activity_id == self.activity_id,
            d.environment_id.in_(self.environments),
        ]
        if self.audience is not None:
            clauses.append(d.reporting_audience == self.audience)
        if self.first_day is not None:
            clauses.append(d.day >= self.first_day)
        if self.last_day is not None:
            clauses.append(d.day <= self.last_day)
        return and_(*clauses)

    def by_time(self, table: Any, column: str) -> Any:
        c = table.c
        clauses = [
            c.tenant_id == self.tenant_id,
            c.activity_id == self.activity_id,
            c.environment_id.in_(self.environments),
        ]
        if self.audience is not None:
            clauses.append(c.visitor.in_(self.members()))
        if self.start_ms is not None:
            clauses.append(c[column] >= self.start_ms)
        if self.end_ms is not None:
            clauses.append(c[column] < self.end_ms)
        return and_(*clauses)


def _scope(
    session: Session, activity: Activity, body: Mapping[str, Any], query: ReportQuery
) -> _Scope:
    envs = session.execute(
        select(Environment.id, Environment.is_default).where(
            Environment.tenant_id == activity.tenant_id
        )
    ).all()
    default = next((env_id for env_id, is_default in envs if is_default), 0)
    chosen = default if query.environment_id is None else query.environment_id
    if query.environment_id is not None and chosen not in {env_id for env_id, _ in envs}:
        raise BadRequest.fields([("environmentId", f"no environment {chosen}")])
    # Events that name no environment were served by the default one.
    environments = (chosen, 0) if chosen == default else (chosen,)
    wanted = query.reporting_audience
    if wanted is not None:
        known = {r.get("reportingAudienceLocalId") for r in body.get("reportingAudiences") or []}
        if wanted not in known:
            raise BadRequest.fields(
                [("reportingAudienceLocalId", f"the activity has no reporting audience {wanted}")]
            )
    return _Scope(
        tenant_id=activity.tenant_id,
        activity_id=activity.id,
        environments=environments,
        environment_id=chosen,
        first_day=None if query.start_ms is None else query.start_ms // DAY_MS,
        last_day=None if query.end_ms is None else (query.end_ms - 1) // DAY_MS,
        start_ms=query.start_ms,
        end_ms=query.end_ms,
        audience=wanted,
    )


def metric_keys(metric: Mapping[str, Any], body: Mapping[str, Any] | None = None) -> list[str]:
    """The event metrics (``cible.reports._aggregate.metric_of``) an Adobe metric counts.

    A click on a ``clickTrackSelectors`` element is a click notification naming the view (or,
    on page load, the global mbox): ``click:<view name>``; view names come from ``body``, the
    activity's definition.
    """
    keys = []
    for mbox in metric.get("mboxes") or []:
        name = mbox.get("name")
        if not name:
            continue
        clicked = mbox.get("successEvent") == "mbox_clicked"
        keys.append(f"{'click' if clicked else 'mbox'}:{name}"[:260])
    views = {v.get("viewLocalId"): v.get("name") for v in (body or {}).get("views") or []}
    for click in metric.get("clickTrackSelectors") or []:
        view = click.get("viewLocalId")
        name = DEFAULT_GLOBAL_MBOX if view is None else views.get(view)
        key = f"click:{name}"[:260]
        if name and key not in keys:
            keys.append(key)
    return keys


def _metric(body: Mapping[str, Any], wanted: int | None) -> Mapping[str, Any] | None:
    metrics = body.get("metrics") or []
    if wanted is not None:
        for metric in metrics:
            if metric.get("metricLocalId") == wanted:
                return dict(metric)
        raise BadRequest.fields([("metricLocalId", f"the activity has no metric {wanted}")])
    conversion = [m for m in metrics if m.get("conversion")]
    return dict((conversion or metrics)[0]) if (conversion or metrics) else None


def _activity_json(activity: Activity, body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": activity.id}
    if activity.third_party_id is not None:
        out["thirdPartyId"] = activity.third_party_id
    out.update(
        type=activity.type,
        state=activity.state,
        name=activity.name,
        priority=activity.priority,
        modifiedAt=iso_millis(activity.modified_at),
        metrics=[
            {"name": m.get("name"), "metricLocalId": m.get("metricLocalId")}
            for m in body.get("metrics") or []
        ],
        experiences=[
            {"name": e.get("name"), "experienceLocalId": e.get("experienceLocalId")}
            for e in body.get("experiences") or []
        ],
        reportingAudiences=body.get("reportingAudiences") or [],
    )
    return out


def _parameters(activity: Activity, scope: _Scope, query: ReportQuery) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "activityId": activity.id,
        "environmentId": scope.environment_id,
        "reportInterval": query.interval,
    }
    if scope.audience is not None:
        parameters["reportingAudienceLocalIds"] = [scope.audience]
    return parameters


def performance_report(
    session: Session, principal: Principal, activity_id: int, kind: str | None, query: ReportQuery
) -> dict[str, Any]:
    """Adobe's performance report with ``analysis`` objects (docs/reports.md)."""
    activity = activities.get_activity(session, principal, activity_id, kind)
    body = definition(activity)
    scope = _scope(session, activity, body, query)
    metric = _metric(body, query.metric_local_id)
    keys = metric_keys(metric, body) if metric is not None else []
    d = scope.table.c
    rows = session.execute(
        select(
            d.experience_id,
            d.metric,
            func.sum(d.visitors),
            func.sum(d.visits),
            func.sum(d.impressions),
            func.sum(d.value_sum),
            func.sum(d.value_sq_sum),
        )
        .where(scope.daily(), d.metric.in_([ENTRY, ORDER, *keys]))
        .group_by(d.experience_id, d.metric)
    ).all()
    # experience -> metric -> (visitors, visits, impressions, value, value²)
    counts: dict[int, dict[str, tuple[float, ...]]] = {}
    for exp, name, *sums in rows:
        counts.setdefault(exp, {})[name] = tuple(float(s or 0) for s in sums)
    defined = [e for e in body.get("experiences") or [] if "experienceLocalId" in e]
    order = [e["experienceLocalId"] for e in defined]
    order += sorted(set(counts) - set(order))
    # The SRM check needs a fixed split: A/B only, and not while auto-allocate moves it.
    fixed = activity.type == "ab" and not (body.get("autoAllocate") or {}).get("enabled")
    weights = {e["experienceLocalId"]: e.get("visitorPercentage") for e in defined if fixed}

    def unit_totals(exp: int | None, field: int) -> dict[str, int]:
        chosen = counts.values() if exp is None else [counts.get(exp, {})]
        entries = sum(c.get(ENTRY, (0.0,) * 5)[field] for c in chosen)
        conversions = sum(c.get(k, (0.0,) * 5)[field] for c in chosen for k in keys)
        return {"entries": round(entries), "conversions": round(conversions)}

    def totals(exp: int | None) -> dict[str, Any]:
        out = {unit: {"totals": unit_totals(exp, i)} for i, (unit, _) in enumerate(UNITS)}
        out["landing"] = out["impression"]
        return out

    field = COUNTING.index(query.counting)
    revenue = _revenue(session, scope, query, counts)
    arms = []
    for exp in order:
        t = unit_totals(exp, field)
        value, value_sq, cap = revenue.get(exp, (0.0, 0.0, None))
        arms.append(
            Arm(
                experience_local_id=exp,
                entries=t["entries"],
                conversions=t["conversions"],
                revenue=value,
                revenue_sq=value_sq,
                winsorized_at=cap,
                weight=weights.get(exp) if query.counting == "visitor" else None,
            )
        )
    control = query.control if query.control is not None else (order[0] if order else 0)
    if query.control is not None and query.control not in order:
        raise BadRequest.fields([("controlExperienceLocalId", f"no experience {query.control}")])
    options = Options(
        control=control,
        correction=query.correction,
        minimum_lift=query.minimum_lift,
        revenue=query.counting == "visitor",
    )
    per_experience, overall = analyse(arms, options)
    if query.cuped and query.counting == "visitor":
        _cuped(session, scope, control, per_experience, order)
    if query.resolution == "day":
        series = _series(session, scope, keys, COUNTING.index(query.counting))
        for exp, analysis in zip(order, per_experience, strict=True):
            analysis["series"] = series.get(exp, [])
    if not fixed and activity.type == "ab":
        overall["autoAllocate"] = _latest_round(session, activity)
    rejected = _rejected_notifications(session, scope)
    for exp, analysis in zip(order, per_experience, strict=True):
        analysis["rejectedNotifications"] = rejected.get(exp, 0)
    overall["rejectedNotifications"] = sum(rejected.values())
    overall["countingMethod"] = query.counting
    overall["metricLocalId"] = None if metric is None else metric.get("metricLocalId")
    parameters = _parameters(activity, scope, query)
    parameters["conversionMetricLocalIds"] = [] if metric is None else [metric["metricLocalId"]]
    parameters["countingMethod"] = query.counting
    if query.resolution is not None:
        parameters["resolution"] = query.resolution
    return {
        "reportParameters": parameters,
        "activity": _activity_json(activity, body),
        "report": {
            "statistics": {
                "totals": totals(None),
                "experiences": [
                    {"experienceLocalId": exp, "totals": totals(exp), "analysis": analysis}
                    for exp, analysis in zip(order, per_experience, strict=True)
                ],
            },
            "analysis": overall,
        },
    }


def _rejected_notifications(session: Session, scope: _Scope) -> dict[int, int]:
    """Per experience, the notifications the delivery API refused to count for this activity
    (an experience the visitor was not given, docs/security.md): reported apart, never entries."""
    e = Event.__table__.c
    clauses = [e.tenant_id == scope.tenant_id, e.activity_id == scope.activity_id]
    if scope.audience is not None:
        clauses.append(e.visitor.in_(scope.members()))
    if scope.start_ms is not None:
        clauses.append(e.occurred_at >= datetime.fromtimestamp(scope.start_ms / 1000, UTC))
    if scope.end_ms is not None:
        clauses.append(e.occurred_at < datetime.fromtimestamp(scope.end_ms / 1000, UTC))
    rows = session.execute(
        select(e.experience_id, func.count())
        .where(*clauses, e.kind == REJECTED)
        .group_by(e.experience_id)
    ).all()
    return {int(exp): int(n) for exp, n in rows if exp is not None}


def _latest_round(session: Session, activity: Activity) -> dict[str, Any] | None:
    """The last auto-allocate round (``cible.reports.allocation``): phase, winner, weights."""
    a = report_allocations.c
    row = session.execute(
        select(a.computed_ms, a.algorithm, a.phase, a.winner, a.weights)
        .where(a.tenant_id == activity.tenant_id, a.activity_id == activity.id)
        .order_by(a.computed_ms.desc(), a.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "computedAt": iso_millis(datetime.fromtimestamp(row.computed_ms / 1000, UTC)),
        "algorithm": row.algorithm,
        "phase": row.phase,
        "winnerExperienceLocalId": row.winner,
        "experiences": orjson.loads(row.weights),
    }


def _series(
    session: Session, scope: _Scope, keys: list[str], field: int
) -> dict[int, list[dict[str, Any]]]:
    """Per experience and UTC day: cumulative entries, conversions and conversion rate with its
    95 % interval (the report's ``resolution=day``)."""
    d = scope.table.c
    column = (d.visitors, d.visits, d.impressions)[field]
    rows = session.execute(
        select(d.experience_id, d.day, d.metric, func.sum(column))
        .where(scope.daily(), d.metric.in_([ENTRY, *keys]))
        .group_by(d.experience_id, d.day, d.metric)
        .order_by(d.experience_id, d.day)
    ).all()
    days: dict[int, dict[int, list[float]]] = {}
    for exp, day, metric, total in rows:
        cell = days.setdefault(exp, {}).setdefault(day, [0.0, 0.0])
        cell[0 if metric == ENTRY else 1] += float(total or 0)
    out: dict[int, list[dict[str, Any]]] = {}
    for exp, by_day in days.items():
        entries = conversions = 0.0
        points = []
        for day in sorted(by_day):
            entries += by_day[day][0]
            conversions += by_day[day][1]
            rate = conversions / entries if entries else 0.0
            p = min(max(rate, 0.0), 1.0)
            low, high = stats.mean_interval(rate, p * (1 - p), entries)
            points.append(
                {
                    "date": datetime.fromtimestamp(day * 86_400, UTC).date().isoformat(),
                    "entries": round(entries),
                    "conversions": round(conversions),
                    "conversionRate": {
                        "value": rate,
                        "lower": float(low) if entries else None,
                        "upper": float(high) if entries else None,
                    },
                }
            )
        out[exp] = points
    return out


def _revenue(
    session: Session,
    scope: _Scope,
    query: ReportQuery,
    counts: Mapping[int, Mapping[str, tuple[float, ...]]],
) -> dict[int, tuple[float, float, float | None]]:
    """Per experience: revenue sum, sum of squared per-visitor totals, and the cap applied."""
    if query.winsorize is None:
        return {
            exp: (c.get(ORDER, (0.0,) * 5)[3], c.get(ORDER, (0.0,) * 5)[4], None)
            for exp, c in counts.items()
        }
    v = report_visitors.c
    rows = session.execute(
        select(v.experience_id, v.revenue).where(
            scope.by_time(report_visitors, "first_ms"), v.revenue > 0
        )
    ).all()
    if not rows:
        return {}
    values = np.array([r[1] for r in rows], dtype=np.float64)
    capped, cap = stats.winsorize(values, query.winsorize)
    out: dict[int, tuple[float, float, float | None]] = {}
    experiences = np.array([r[0] for r in rows])
    for exp in set(experiences.tolist()):
        mine = capped[experiences == exp]
        out[int(exp)] = (float(mine.sum()), float((mine * mine).sum()), cap)
    return out


def _cuped(
    session: Session,
    scope: _Scope,
    control: int,
    per_experience: list[dict[str, Any]],
    order: list[int],
) -> None:
    """Adds ``revenue.cuped`` to each challenger, from visitors with a pre-period value."""
    v = report_visitors.c
    rows = session.execute(
        select(
            v.experience_id,
            func.count(),
            func.sum(v.revenue),
            func.sum(v.revenue * v.revenue),
            func.sum(v.pre_value),
            func.sum(v.pre_value * v.pre_value),
            func.sum(v.pre_value * v.revenue),
        )
        .where(scope.by_time(report_visitors, "first_ms"), v.pre_value.is_not(None))
        .group_by(v.experience_id)
    ).all()
    moments = {exp: stats.CovariateMoments(*(float(x or 0) for x in sums)) for exp, *sums in rows}
    base = moments.get(control)
    for exp, analysis in zip(order, per_experience, strict=True):
        revenue = analysis.get("revenue")
        if exp == control or revenue is None:
            continue
        mine = moments.get(exp)
        result = None
        if base is not None and mine is not None and min(base.n, mine.n) >= 2 and base.sum_y:
            res = stats.cuped_lift(mine, base)
            result = {
                "applied": res.applied,
                "theta": res.theta,
                "units": mine.n + base.n,
                "lift": {"value": res.estimate, "lower": res.lower, "upper": res.upper},
            }
        revenue["cuped"] = result


def orders_report(
    session: Session, principal: Principal, activity_id: int, kind: str | None, query: ReportQuery
) -> dict[str, Any]:
    """Adobe's orders (audit) report: every counted order, extreme ones flagged."""
    activity = activities.get_activity(session, principal, activity_id, kind)
    body = definition(activity)
    scope = _scope(session, activity, body, query)
    o = report_orders.c
    rows = session.execute(
        select(o.order_id, o.experience_id, o.occurred_ms, o.total)
        .where(scope.by_time(report_orders, "occurred_ms"))
        .order_by(o.occurred_ms, o.order_id)
    ).all()
    totals = np.array([r.total for r in rows if r.total is not None], dtype=np.float64)
    extreme = iter(stats.adobe_extreme_orders(totals).tolist())
    orders = []
    for r in rows:
        orders.append(
            {
                "time": iso_millis(datetime.fromtimestamp(r.occurred_ms / 1000, UTC)),
                "experienceLocalId": r.experience_id,
                "id": r.order_id,
                "total": r.total,
                "duplicate": False,
                "outlier": bool(next(extreme)) if r.total is not None else False,
                "productIds": [],
            }
        )
    metric = _metric(body, query.metric_local_id)
    parameters = _parameters(activity, scope, query)
    parameters["conversionMetricLocalIds"] = [] if metric is None else [metric["metricLocalId"]]
    return {
        "reportParameters": parameters,
        "activity": _activity_json(activity, body),
        "orders": orders,
    }

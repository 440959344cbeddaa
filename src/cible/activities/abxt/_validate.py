"""Checks of an activity definition that need more than one field, or the database.

Every problem is collected with the path of the field at fault (``experiences[1]
.optionLocations[0].optionLocalId``) so that one 400 lists them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.abxt._dates import parse_date
from cible.activities.abxt.schemas import ActivityIn
from cible.activities.audiences.tables import Audience
from cible.activities.offers.tables import Offer

Problems = list[tuple[str, str]]


def schedule(
    starts: str | None, ends: str | None, problems: Problems
) -> tuple[datetime | None, datetime | None]:
    """``startsAt`` and ``endsAt`` parsed; ``startsAt`` must come before ``endsAt``."""
    parsed: list[datetime | None] = []
    for name, raw in (("startsAt", starts), ("endsAt", ends)):
        if raw is None:
            parsed.append(None)
            continue
        try:
            parsed.append(parse_date(raw))
        except ValueError as exc:
            problems.append((name, str(exc)))
            parsed.append(None)
    start, end = parsed
    if start is not None and end is not None and start >= end:
        problems.append(("endsAt", "must be after startsAt"))
    return start, end


def _unique(ids: Iterable[tuple[int, str]], what: str, problems: Problems) -> set[int]:
    seen: set[int] = set()
    for value, path in ids:
        if value in seen:
            problems.append((path, f"{what} {value} is used twice"))
        seen.add(value)
    return seen


def local_ids(kind: str, body: ActivityIn, problems: Problems) -> None:
    """Local ids unique, every reference to one resolved, and the traffic rules of the type."""
    options = _unique(
        ((o.option_local_id, f"options[{i}].optionLocalId") for i, o in enumerate(body.options)),
        "optionLocalId",
        problems,
    )
    locations = _unique(
        [
            *(
                (m.location_local_id, f"locations.mboxes[{i}].locationLocalId")
                for i, m in enumerate(body.locations.mboxes)
            ),
            *(
                (s.location_local_id, f"locations.selectors[{i}].locationLocalId")
                for i, s in enumerate(body.locations.selectors)
            ),
        ],
        "locationLocalId",
        problems,
    )
    _views(body, problems)
    _unique(
        (
            (e.experience_local_id, f"experiences[{i}].experienceLocalId")
            for i, e in enumerate(body.experiences)
        ),
        "experienceLocalId",
        problems,
    )
    metrics = _unique(
        ((m.metric_local_id, f"metrics[{i}].metricLocalId") for i, m in enumerate(body.metrics)),
        "metricLocalId",
        problems,
    )
    _unique(
        (
            (r.reporting_audience_local_id, f"reportingAudiences[{i}].reportingAudienceLocalId")
            for i, r in enumerate(body.reporting_audiences)
        ),
        "reportingAudienceLocalId",
        problems,
    )
    for i, exp in enumerate(body.experiences):
        for j, pair in enumerate(exp.option_locations):
            path = f"experiences[{i}].optionLocations[{j}]"
            if pair.location_local_id not in locations:
                problems.append(
                    (f"{path}.locationLocalId", f"no location {pair.location_local_id}")
                )
            if pair.option_local_id not in options:
                problems.append((f"{path}.optionLocalId", f"no option {pair.option_local_id}"))
    for i, rep in enumerate(body.reporting_audiences):
        if rep.metric_local_id not in metrics:
            problems.append(
                (f"reportingAudiences[{i}].metricLocalId", f"no metric {rep.metric_local_id}")
            )
    auto = body.auto_allocate
    if auto is not None:
        if kind != "ab":
            problems.append(("autoAllocate", "only A/B activities allocate automatically"))
        elif auto.metric_local_id is not None and auto.metric_local_id not in metrics:
            problems.append(("autoAllocate.metricLocalId", f"no metric {auto.metric_local_id}"))
    if not body.experiences:
        problems.append(("experiences", "an activity needs at least one experience"))
    elif kind == "ab":
        total = sum(e.visitor_percentage or 0 for e in body.experiences)
        if total != 100:
            problems.append(
                ("experiences", f"visitorPercentage must sum to 100 across experiences ({total})")
            )
    else:
        last = len(body.experiences) - 1
        for i, exp in enumerate(body.experiences):
            if not exp.audience_ids and i != last:
                problems.append(
                    (
                        f"experiences[{i}].audienceIds",
                        "only the last experience of an XT activity may have no audience",
                    )
                )


def _views(body: ActivityIn, problems: Problems) -> None:
    """View ids and names unique; every ``viewLocalId`` of a selector names a view."""
    views = _unique(
        ((v.view_local_id, f"views[{i}].viewLocalId") for i, v in enumerate(body.views)),
        "viewLocalId",
        problems,
    )
    names: set[str] = set()
    for i, view in enumerate(body.views):
        if view.name in names:
            problems.append((f"views[{i}].name", f"view {view.name!r} is listed twice"))
        names.add(view.name)
    pointers = [
        (s.view_local_id, f"locations.selectors[{i}].viewLocalId")
        for i, s in enumerate(body.locations.selectors)
    ]
    pointers += [
        (c.view_local_id, f"metrics[{i}].clickTrackSelectors[{k}].viewLocalId")
        for i, m in enumerate(body.metrics)
        for k, c in enumerate(m.click_track_selectors)
    ]
    for view_id, path in pointers:
        if view_id is not None and view_id not in views:
            problems.append((path, f"no view {view_id}"))


def audience_refs(body: ActivityIn) -> list[tuple[int, str]]:
    """Every audience id the definition names, with its path."""
    refs: list[tuple[int, str]] = []
    for i, m in enumerate(body.locations.mboxes):
        refs += [
            (a, f"locations.mboxes[{i}].audienceIds[{j}]") for j, a in enumerate(m.audience_ids)
        ]
    for i, s in enumerate(body.locations.selectors):
        refs += [
            (a, f"locations.selectors[{i}].audienceIds[{j}]") for j, a in enumerate(s.audience_ids)
        ]
    for i, v in enumerate(body.views):
        refs += [(a, f"views[{i}].audienceIds[{j}]") for j, a in enumerate(v.audience_ids)]
    for i, e in enumerate(body.experiences):
        refs += [(a, f"experiences[{i}].audienceIds[{j}]") for j, a in enumerate(e.audience_ids)]
    for i, metric in enumerate(body.metrics):
        for k, mbox in enumerate(metric.mboxes):
            refs += [
                (a, f"metrics[{i}].mboxes[{k}].audienceIds[{j}]")
                for j, a in enumerate(mbox.audience_ids)
            ]
        for k, click in enumerate(metric.click_track_selectors):
            refs += [
                (a, f"metrics[{i}].clickTrackSelectors[{k}].audienceIds[{j}]")
                for j, a in enumerate(click.audience_ids)
            ]
    refs += [
        (r.audience_id, f"reportingAudiences[{i}].audienceId")
        for i, r in enumerate(body.reporting_audiences)
    ]
    return refs


def offer_refs(body: ActivityIn, paths: Mapping[int, str] | None = None) -> list[tuple[int, str]]:
    """Every offer id the definition names, with its path (``paths`` rewrites v1 paths)."""
    paths = paths or {}
    return [(o.offer_id, paths.get(i, f"options[{i}].offerId")) for i, o in enumerate(body.options)]


def references(
    session: Session,
    tenant_id: int,
    workspace_id: int,
    body: ActivityIn,
    problems: Problems,
    offer_paths: Mapping[int, str] | None = None,
) -> None:
    """Offers and audiences named exist in the tenant and in the activity's workspace."""
    offers = offer_refs(body, offer_paths)
    if offers:
        rows = session.execute(
            select(Offer.id, Offer.workspace_id).where(
                Offer.tenant_id == tenant_id, Offer.id.in_({o for o, _ in offers})
            )
        )
        where = {ref_id: ws for ref_id, ws in rows}
        for offer_id, path in offers:
            if offer_id not in where:
                problems.append((path, f"offer {offer_id} does not exist"))
            elif where[offer_id] != workspace_id:
                problems.append((path, f"offer {offer_id} is in another workspace"))
    audiences = audience_refs(body)
    if audiences:
        rows = session.execute(
            select(Audience.id, Audience.workspace_id).where(
                Audience.tenant_id == tenant_id,
                Audience.id.in_({a for a, _ in audiences}),
                Audience.deleted_at.is_(None),
            )
        )
        where = {ref_id: ws for ref_id, ws in rows}
        for audience_id, path in audiences:
            if audience_id not in where:
                problems.append((path, f"audience {audience_id} does not exist"))
            elif where[audience_id] != workspace_id:
                problems.append((path, f"audience {audience_id} is in another workspace"))

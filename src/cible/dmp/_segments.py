"""Segments, their rules checked against the tenant's traits, and their populations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from cible.dmp import audiences
from cible.dmp._common import (
    MAX_ID,
    WINDOWS,
    ListQuery,
    bump_rules,
    epoch_ms,
    fetch_page,
    filter_id,
    get_folder,
    ref_clause,
    require_write,
    segments_using,
)
from cible.dmp.schemas import SegmentIn
from cible.dmp.segmentrule import SegmentRuleError, compile_segment_rule
from cible.dmp.tables import (
    DataSource,
    Population,
    Segment,
    Trait,
)
from cible.dmp.transfers.labels import first_violation
from cible.errors import BadRequest, Conflict, NotFound
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability


def segment_json(segment: Segment, metrics: dict[int, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sid": segment.id,
        "pid": segment.tenant_id,
        "name": segment.name,
        "description": segment.description,
        "segmentRule": segment.segment_rule,
        "dataSourceId": segment.data_source_id,
        "mergeRuleDataSourceId": segment.merge_rule_data_source_id,
        "folderId": segment.folder_id,
        "integrationCode": segment.integration_code,
        "status": segment.status,
        "createTime": epoch_ms(segment.create_time),
        "updateTime": epoch_ms(segment.update_time),
    }
    if metrics is not None:
        out |= {f"uniques{d}Day": metrics.get(d, 0) for d in WINDOWS}
        out["totalUniques"] = metrics.get(0, 0)
    return out


def get_segment(session: Session, principal: Principal, ref: str) -> Segment:
    principal.require(Capability.READ)
    query = select(Segment).where(
        Segment.tenant_id == principal.tenant_id,
        ref_clause(ref, Segment.id, Segment.integration_code),
    )
    found = session.scalar(query.limit(1))
    if found is None:
        raise NotFound(f"segment {ref} does not exist")
    return found


def list_segments(
    session: Session, principal: Principal, q: ListQuery
) -> tuple[list[Segment], int]:
    principal.require(Capability.READ)
    where: list[ColumnElement[bool]] = [Segment.tenant_id == principal.tenant_id]
    f = q.filters
    for name, column in (
        ("folderId", Segment.folder_id),
        ("dataSourceId", Segment.data_source_id),
        ("mergeRuleDataSourceId", Segment.merge_rule_data_source_id),
    ):
        if name in f:
            where.append(column == filter_id(f, name))
    if "integrationCode" in f:
        where.append(Segment.integration_code == f["integrationCode"])
    if "status" in f:
        where.append(Segment.status == f["status"].upper())
    if "containsTrait" in f:
        ids = segments_using(session, principal.tenant_id, [filter_id(f, "containsTrait")])
        where.append(Segment.id.in_(ids))
    query = select(Segment).where(*where).order_by(Segment.id)
    return fetch_page(session, query, select(func.count()).select_from(Segment).where(*where), q)


def validate_segment_rule(session: Session, tenant_id: int, text: str) -> None:
    try:
        rule = compile_segment_rule(text)
    except SegmentRuleError as exc:
        raise BadRequest.fields([("segmentRule", str(exc))]) from None
    storable = [t for t in rule.traits if 0 < t <= MAX_ID]
    known = set(
        session.scalars(
            select(Trait.id).where(Trait.tenant_id == tenant_id, Trait.id.in_(storable))
        )
    )
    missing = sorted(rule.traits - known)
    if missing:
        names = ", ".join(f"{t}T" for t in missing)
        raise BadRequest.fields([("segmentRule", f"unknown trait {names}")])


def _check_segment_body(session: Session, tenant_id: int, body: SegmentIn, own: int | None) -> None:
    problems = []
    for field, ds_id in (
        ("dataSourceId", body.data_source_id),
        ("mergeRuleDataSourceId", body.merge_rule_data_source_id),
    ):
        if ds_id is None:
            continue
        exists = session.scalar(
            select(DataSource.id).where(DataSource.tenant_id == tenant_id, DataSource.id == ds_id)
        )
        if exists is None:
            problems.append((field, f"data source {ds_id} does not exist"))
    try:
        get_folder(session, tenant_id, "segments", body.folder_id)
    except NotFound:
        problems.append(("folderId", f"segment folder {body.folder_id} does not exist"))
    if problems:
        raise BadRequest.fields(problems)
    validate_segment_rule(session, tenant_id, body.segment_rule)
    ds = session.get(DataSource, body.data_source_id)
    if ds is not None and ds.unique_segment_integration_codes and body.integration_code:
        query = select(Segment.id).where(
            Segment.data_source_id == ds.id, Segment.integration_code == body.integration_code
        )
        if own is not None:
            query = query.where(Segment.id != own)
        if session.scalar(query.limit(1)) is not None:
            raise Conflict(
                f"integration code {body.integration_code!r} is already used in data source {ds.id}"
            )


def _apply_segment(segment: Segment, body: SegmentIn) -> None:
    segment.name = body.name
    segment.description = body.description
    segment.segment_rule = body.segment_rule
    segment.data_source_id = body.data_source_id
    segment.merge_rule_data_source_id = body.merge_rule_data_source_id
    segment.folder_id = body.folder_id
    segment.integration_code = body.integration_code or None
    segment.status = body.status


def create_segment(
    session: Session, principal: Principal, body: SegmentIn, now: datetime
) -> Segment:
    require_write(principal)
    _check_segment_body(session, principal.tenant_id, body, None)
    segment = Segment(tenant_id=principal.tenant_id, create_time=now, update_time=now)
    _apply_segment(segment, body)
    session.add(segment)
    session.flush()
    audiences.segment_saved(session, segment, now)
    bump_rules(session, principal.tenant_id)
    return segment


def update_segment(
    session: Session, principal: Principal, ref: str, body: SegmentIn, now: datetime
) -> Segment:
    segment = get_segment(session, principal, ref)
    require_write(principal)
    _check_segment_body(session, principal.tenant_id, body, segment.id)
    _apply_segment(segment, body)
    # A new rule may draw on a data source whose restrictions a mapped destination's labels
    # break (AAM, "Data Export Controls").
    clash = first_violation(session, principal.tenant_id, [segment.id])
    if clash is not None:
        raise BadRequest.fields([("segmentRule", clash)])
    segment.update_time = now
    audiences.segment_saved(session, segment, now)
    bump_rules(session, principal.tenant_id)
    return segment


def delete_segments(
    session: Session, principal: Principal, refs: Sequence[str], now: datetime
) -> None:
    """Deletes all or none; 409 while an approved activity targets one's audience."""
    segments = [get_segment(session, principal, ref) for ref in refs]
    require_write(principal)
    for segment in segments:
        audiences.segment_deleted(session, segment, now)
        session.delete(segment)
    session.flush()
    bump_rules(session, principal.tenant_id)


def list_all_segments(session: Session, tenant_id: int) -> list[Segment]:
    """Every segment of a tenant, for the Target audience list (read-only there)."""
    return list(
        session.scalars(select(Segment).where(Segment.tenant_id == tenant_id).order_by(Segment.id))
    )


def populations(
    session: Session, tenant_id: int, kind: str, ids: Iterable[int]
) -> dict[int, dict[int, int]]:
    """``{ref id: {days: uniques}}`` as the population job last computed them (0 = total)."""
    wanted = list(ids)
    out: dict[int, dict[int, int]] = {i: {} for i in wanted}
    if not wanted:
        return out
    rows = session.execute(
        select(Population.ref_id, Population.days, Population.uniques).where(
            Population.tenant_id == tenant_id,
            Population.kind == kind,
            Population.ref_id.in_(wanted),
        )
    )
    for ref_id, days, uniques in rows:
        out[ref_id][days] = int(uniques)
    return out


def replace_populations(
    session: Session, tenant_id: int, counts: dict[tuple[str, int, int], int], now: datetime
) -> None:
    session.execute(delete(Population).where(Population.tenant_id == tenant_id))
    for (kind, ref_id, days), uniques in counts.items():
        session.add(
            Population(
                tenant_id=tenant_id,
                kind=kind,
                ref_id=ref_id,
                days=days,
                uniques=uniques,
                computed_at=now,
            )
        )

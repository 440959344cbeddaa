"""Data export controls: a destination's labels against the restrictions of a segment's data.

A data source's ``dataExportRestrictions`` name the uses its data must not serve; a
destination's ``dataExportLabels`` name the uses it serves (Adobe Audience Manager, "Data Export
Controls"). A segment draws from its own data source and from those of the traits its rule
names. AAM checks the controls whenever one side of a mapping moves: a segment mapped to a
destination, a destination's labels, a segment's rule or a trait's data source, a data source's
restrictions. Each of those edits calls :func:`violation` (one mapping) or :func:`first_violation`
(every mapping a change may reach) after applying the change in its transaction, and refuses
the change, which then rolls back, when a mapping would break the controls.
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.dmp.segmentrule import compile_segment_rule
from cible.dmp.tables import DataSource, Segment, Trait
from cible.dmp.transfers.tables import Destination, DestinationMapping


def _sources_of(session: Session, tenant_id: int, segment: Segment) -> set[int]:
    traits = compile_segment_rule(segment.segment_rule).traits
    sources = {segment.data_source_id}
    if traits:
        sources |= set(
            session.scalars(
                select(Trait.data_source_id).where(
                    Trait.tenant_id == tenant_id, Trait.id.in_(traits)
                )
            )
        )
    return sources


def violation(session: Session, tenant_id: int, sid: int, labels: Collection[str]) -> str | None:
    """Why segment ``sid`` may not go to a destination labelled ``labels``; None if it may."""
    if not labels:
        return None
    segment = session.scalar(
        select(Segment).where(Segment.tenant_id == tenant_id, Segment.id == sid)
    )
    if segment is None:
        return None
    for ds_id, raw in session.execute(
        select(DataSource.id, DataSource.data_export_restrictions)
        .where(
            DataSource.tenant_id == tenant_id,
            DataSource.id.in_(_sources_of(session, tenant_id, segment)),
        )
        .order_by(DataSource.id)
    ):
        clash = sorted(set(orjson.loads(raw)) & set(labels))
        if clash:
            return (
                f"segment {sid} uses data source {ds_id}, whose data export restrictions "
                f"forbid {', '.join(clash)}"
            )
    return None


def first_violation(
    session: Session, tenant_id: int, sids: Collection[int] | None = None
) -> str | None:
    """The first mapping of the tenant (of segments ``sids`` only, when given) that breaks the
    controls as the session sees them now, explained; None when every one holds."""
    session.flush()
    query = (
        select(DestinationMapping.sid, Destination.id, Destination.data_export_labels)
        .join(Destination, Destination.id == DestinationMapping.destination_id)
        .where(DestinationMapping.tenant_id == tenant_id, Destination.data_export_labels != "[]")
        .order_by(Destination.id, DestinationMapping.sid)
    )
    if sids is not None:
        query = query.where(DestinationMapping.sid.in_(list(sids)))
    for sid, dest_id, raw in session.execute(query):
        found = violation(session, tenant_id, int(sid), orjson.loads(raw))
        if found is not None:
            return f"{found}, a label of destination {dest_id} that it is mapped to"
    return None

"""Data sources: AAM's ID namespaces (DPIDs) and their flags (docs/audience-manager.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cible.dmp._common import ListQuery, bump_rules, epoch_ms, fetch_page, ref_clause, require_write
from cible.dmp.schemas import DataSourceIn
from cible.dmp.tables import (
    DataSource,
    Segment,
    Trait,
)
from cible.dmp.transfers.labels import first_violation
from cible.errors import BadRequest, Conflict, NotFound
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability


def data_source_json(ds: DataSource) -> dict[str, Any]:
    return {
        "dataSourceId": ds.id,
        "pid": ds.tenant_id,
        "name": ds.name,
        "description": ds.description,
        "integrationCode": ds.integration_code,
        "idType": ds.id_type,
        "inboundS2S": ds.inbound_s2s,
        "outboundS2S": ds.outbound_s2s,
        "allowDeviceGraphSharing": ds.share_enabled,
        "useAuthenticatedProfile": ds.authenticated_profile,
        "mergeRule": ds.merge_rule,
        "uniqueTraitIntegrationCodes": ds.unique_trait_integration_codes,
        "uniqueSegmentIntegrationCodes": ds.unique_segment_integration_codes,
        "dataExportRestrictions": orjson.loads(ds.data_export_restrictions),
        "customerIdRetentionDays": ds.customer_id_retention_days,
        "status": "ACTIVE",
        "type": "GENERAL",
        "createTime": epoch_ms(ds.create_time),
        "updateTime": epoch_ms(ds.update_time),
    }


def get_data_source(session: Session, principal: Principal, ref: str) -> DataSource:
    principal.require(Capability.READ)
    query = select(DataSource).where(DataSource.tenant_id == principal.tenant_id)
    query = query.where(ref_clause(ref, DataSource.id, DataSource.integration_code))
    found = session.scalar(query.limit(1))
    if found is None:
        raise NotFound(f"data source {ref} does not exist")
    return found


def list_data_sources(
    session: Session, principal: Principal, q: ListQuery
) -> tuple[list[DataSource], int]:
    principal.require(Capability.READ)
    where = [DataSource.tenant_id == principal.tenant_id]
    if "integrationCode" in q.filters:
        where.append(DataSource.integration_code == q.filters["integrationCode"])
    if q.filters.get("inboundOnly") == "true":
        where.append(DataSource.inbound_s2s.is_(True))
    if q.filters.get("outboundOnly") == "true":
        where.append(DataSource.outbound_s2s.is_(True))
    query = select(DataSource).where(*where).order_by(DataSource.id)
    return fetch_page(session, query, select(func.count()).select_from(DataSource).where(*where), q)


def _apply_data_source(ds: DataSource, body: DataSourceIn) -> None:
    ds.name = body.name
    ds.description = body.description
    ds.integration_code = body.integration_code or None
    ds.id_type = body.id_type
    ds.inbound_s2s = body.inbound_s2s
    ds.outbound_s2s = body.outbound_s2s
    ds.share_enabled = body.share_enabled
    ds.authenticated_profile = body.authenticated_profile and body.id_type == "CROSS_DEVICE"
    ds.merge_rule = body.merge_rule if ds.authenticated_profile else "DEVICE_ONLY"
    ds.unique_trait_integration_codes = body.unique_trait_integration_codes
    ds.unique_segment_integration_codes = body.unique_segment_integration_codes
    ds.data_export_restrictions = orjson.dumps(sorted(set(body.data_export_restrictions))).decode()
    ds.customer_id_retention_days = body.customer_id_retention_days


def _unique_code(
    session: Session, table: Any, tenant_id: int, code: str | None, own_id: int | None
) -> None:
    if not code:
        return
    query = select(table.id).where(table.tenant_id == tenant_id, table.integration_code == code)
    if own_id is not None:
        query = query.where(table.id != own_id)
    if session.scalar(query.limit(1)) is not None:
        raise Conflict(f"integration code {code!r} is already used")


def create_data_source(
    session: Session, principal: Principal, body: DataSourceIn, now: datetime
) -> DataSource:
    require_write(principal)
    _unique_code(session, DataSource, principal.tenant_id, body.integration_code, None)
    ds = DataSource(tenant_id=principal.tenant_id, create_time=now, update_time=now)
    _apply_data_source(ds, body)
    session.add(ds)
    session.flush()
    return ds


def update_data_source(
    session: Session, principal: Principal, ref: str, body: DataSourceIn, now: datetime
) -> DataSource:
    ds = get_data_source(session, principal, ref)
    require_write(principal)
    _unique_code(session, DataSource, principal.tenant_id, body.integration_code, ds.id)
    _apply_data_source(ds, body)
    clash = first_violation(session, principal.tenant_id)
    if clash is not None:
        # New restrictions may not break an existing mapping (AAM, "Data Export Controls").
        raise BadRequest.fields([("dataExportRestrictions", clash)])
    ds.update_time = now
    bump_rules(session, principal.tenant_id)
    return ds


def delete_data_source(session: Session, principal: Principal, ref: str) -> None:
    ds = get_data_source(session, principal, ref)
    require_write(principal)
    for table, label in ((Trait, "traits"), (Segment, "segments")):
        used = session.scalar(select(func.count()).where(table.data_source_id == ds.id))
        if used:
            raise Conflict(f"data source {ds.id} still owns {used} {label}; delete them first")
    session.delete(ds)

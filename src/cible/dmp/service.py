"""The audience manager's taxonomy: data sources, trait and segment folders, traits, segments.

Every change bumps the tenant's rules version in the same transaction, so DCS workers recompile
the tenant's rules on their next call (see ``cible.dmp.rules``). Rules are validated by the
parsers that later evaluate them: a rule the API accepts always compiles, and a refused rule's
400 names the line and column (docs/audience-manager.md, "Traits", "Segments").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from cible.dmp.schemas import DataSourceIn, FolderIn, SegmentIn, TraitIn
from cible.dmp.segmentrule import SegmentRuleError, compile_segment_rule
from cible.dmp.tables import (
    DataSource,
    Folder,
    Population,
    RulesVersion,
    Segment,
    Trait,
    TraitRuleVersion,
)
from cible.dmp.traitrule import TraitRuleError, compile_trait_rule
from cible.errors import BadRequest, Conflict, Forbidden, NotFound
from cible.tenants.principal import Principal
from cible.tenants.roles import GRANTS, Capability

FOLDER_TRAIT = "FOLDER_TRAIT"
KINDS = ("traits", "segments")
WINDOWS = (1, 7, 14, 30, 60)
MAX_TRAITS = 5_000_000
MAX_SEGMENTS = 100_000


@dataclass(frozen=True)
class ListQuery:
    """AAM's list parameters: 0-based ``page``, ``pageSize`` and filters."""

    page: int
    page_size: int
    filters: dict[str, str]


MAX_ID = 2**31 - 1  # ids are INTEGER columns (PostgreSQL int4)


def parse_id(text: str) -> int | None:
    """``text`` as an id the tables can hold, or None (never an SQL overflow)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def _filter_id(filters: dict[str, str], name: str) -> int:
    value = parse_id(filters[name])
    if value is None:
        raise BadRequest.fields([(name, f"must be an id between 1 and {MAX_ID}")])
    return value


def _require_write(principal: Principal) -> None:
    """Audience manager data belongs to the whole tenant: writing needs a tenant-wide role."""
    tenant_wide = {c for role in principal.grants.get(None, frozenset()) for c in GRANTS[role]}
    if Capability.WRITE not in tenant_wide:
        raise Forbidden(
            f"API client {principal.client_id} needs the write right on the whole tenant "
            "to change audience manager data"
        )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def bump_rules(session: Session, tenant_id: int) -> None:
    updated = session.execute(
        update(RulesVersion)
        .where(RulesVersion.tenant_id == tenant_id)
        .values(version=RulesVersion.version + 1)
    )
    if getattr(updated, "rowcount", 0) == 0:
        session.add(RulesVersion(tenant_id=tenant_id, version=1))
    session.flush()


def _page(session: Session, query: Any, count: Any, q: ListQuery) -> tuple[list[Any], int]:
    total = int(session.scalar(count) or 0)
    rows = list(session.scalars(query.offset(q.page * q.page_size).limit(q.page_size)))
    return rows, total


def envelope(items: list[dict[str, Any]], total: int, q: ListQuery) -> dict[str, Any]:
    return {"total": total, "page": q.page, "pageSize": q.page_size, "list": items}


# -- data sources ------------------------------------------------------------------------------


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
        "uniqueTraitIntegrationCodes": ds.unique_trait_integration_codes,
        "uniqueSegmentIntegrationCodes": ds.unique_segment_integration_codes,
        "dataExportRestrictions": orjson.loads(ds.data_export_restrictions),
        "status": "ACTIVE",
        "type": "GENERAL",
        "createTime": _ms(ds.create_time),
        "updateTime": _ms(ds.update_time),
    }


def get_data_source(session: Session, principal: Principal, ref: str) -> DataSource:
    principal.require(Capability.READ)
    query = select(DataSource).where(DataSource.tenant_id == principal.tenant_id)
    query = query.where(_ref_clause(ref, DataSource.id, DataSource.integration_code))
    found = session.scalar(query.limit(1))
    if found is None:
        raise NotFound(f"data source {ref} does not exist")
    return found


def _ref_clause(ref: str, id_column: Any, code_column: Any) -> ColumnElement[bool]:
    """``123`` by id or ``ic:CODE`` by integration code (AAM's ``ic:`` lookups)."""
    if ref.startswith("ic:"):
        return code_column == ref[3:]  # type: ignore[no-any-return]
    value = parse_id(ref)
    if value is None:
        raise NotFound(f"{ref!r} names nothing: use an id or ic:<integration code>")
    return id_column == value  # type: ignore[no-any-return]


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
    return _page(session, query, select(func.count()).select_from(DataSource).where(*where), q)


def _apply_data_source(ds: DataSource, body: DataSourceIn) -> None:
    ds.name = body.name
    ds.description = body.description
    ds.integration_code = body.integration_code or None
    ds.id_type = body.id_type
    ds.inbound_s2s = body.inbound_s2s
    ds.outbound_s2s = body.outbound_s2s
    ds.share_enabled = body.share_enabled
    ds.authenticated_profile = body.authenticated_profile and body.id_type == "CROSS_DEVICE"
    ds.unique_trait_integration_codes = body.unique_trait_integration_codes
    ds.unique_segment_integration_codes = body.unique_segment_integration_codes
    ds.data_export_restrictions = orjson.dumps(sorted(set(body.data_export_restrictions))).decode()


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
    _require_write(principal)
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
    _require_write(principal)
    _unique_code(session, DataSource, principal.tenant_id, body.integration_code, ds.id)
    _apply_data_source(ds, body)
    ds.update_time = now
    bump_rules(session, principal.tenant_id)
    return ds


def delete_data_source(session: Session, principal: Principal, ref: str) -> None:
    ds = get_data_source(session, principal, ref)
    _require_write(principal)
    for table, label in ((Trait, "traits"), (Segment, "segments")):
        used = session.scalar(select(func.count()).where(table.data_source_id == ds.id))
        if used:
            raise Conflict(f"data source {ds.id} still owns {used} {label}; delete them first")
    session.delete(ds)


# -- folders -----------------------------------------------------------------------------------


def _folders(session: Session, tenant_id: int, kind: str) -> list[Folder]:
    query = select(Folder).where(Folder.tenant_id == tenant_id, Folder.kind == kind)
    return list(session.scalars(query.order_by(Folder.id)))


def _folder(session: Session, tenant_id: int, kind: str, folder_id: int) -> Folder:
    if not 0 < folder_id <= MAX_ID:
        raise NotFound(f"{kind[:-1]} folder {folder_id} does not exist")
    found = session.scalar(
        select(Folder).where(
            Folder.tenant_id == tenant_id, Folder.kind == kind, Folder.id == folder_id
        )
    )
    if found is None:
        raise NotFound(f"{kind[:-1]} folder {folder_id} does not exist")
    return found


def folder_tree(
    session: Session, principal: Principal, kind: str, root: int | None = None
) -> list[dict[str, Any]]:
    """The folders as AAM's trees: ``{folderId, parentFolderId, name, path, subFolders}``."""
    principal.require(Capability.READ)
    folders = _folders(session, principal.tenant_id, kind)
    children: dict[int, list[Folder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id or 0, []).append(folder)

    def render(folder: Folder, path: str) -> dict[str, Any]:
        here = f"{path}/{folder.name}"
        subs = [render(child, here) for child in children.get(folder.id, [])]
        return {
            "folderId": folder.id,
            "parentFolderId": folder.parent_id or 0,
            "name": folder.name,
            "path": here,
            "folderCount": len(subs),
            "subFolders": subs,
        }

    if root is not None:
        found = _folder(session, principal.tenant_id, kind, root)
        return [render(found, _path(session, found)[: -len(found.name) - 1])]
    return [render(folder, "") for folder in children.get(0, [])]


def _path(session: Session, folder: Folder) -> str:
    names = [folder.name]
    current = folder
    while current.parent_id is not None:
        parent = session.get(Folder, current.parent_id)
        if parent is None:
            break
        names.append(parent.name)
        current = parent
    return "/" + "/".join(reversed(names))


def _check_parent(session: Session, tenant_id: int, kind: str, parent: int) -> int | None:
    if parent == 0:
        return None
    try:
        return _folder(session, tenant_id, kind, parent).id
    except NotFound:
        raise BadRequest.fields(
            [("parentFolderId", f"{kind[:-1]} folder {parent} does not exist")]
        ) from None


def create_folder(
    session: Session, principal: Principal, kind: str, body: FolderIn, now: datetime
) -> Folder:
    _require_write(principal)
    parent = _check_parent(session, principal.tenant_id, kind, body.parent_folder_id)
    folder = Folder(tenant_id=principal.tenant_id, kind=kind, parent_id=parent, name=body.name)
    session.add(folder)
    session.flush()
    if kind == "traits":
        # Every trait folder has its folder trait, the OR of its subtree (AAM, "Folder Traits").
        session.add(
            Trait(
                tenant_id=principal.tenant_id,
                name=body.name,
                trait_type=FOLDER_TRAIT,
                trait_rule="",
                data_source_id=_default_data_source(session, principal.tenant_id, now).id,
                folder_id=folder.id,
                ttl=0,
                create_time=now,
                update_time=now,
            )
        )
        bump_rules(session, principal.tenant_id)
    return folder


def _default_data_source(session: Session, tenant_id: int, now: datetime) -> DataSource:
    """The tenant's first data source, created on demand for folder traits."""
    found = session.scalar(
        select(DataSource).where(DataSource.tenant_id == tenant_id).order_by(DataSource.id).limit(1)
    )
    if found is not None:
        return found
    ds = DataSource(
        tenant_id=tenant_id,
        name="Default",
        description="Created for folder traits",
        create_time=now,
        update_time=now,
    )
    session.add(ds)
    session.flush()
    return ds


def update_folder(
    session: Session, principal: Principal, kind: str, folder_id: int, body: FolderIn
) -> Folder:
    """Rename or move a folder; moving it under itself or a descendant is refused."""
    folder = _folder(session, principal.tenant_id, kind, folder_id)
    _require_write(principal)
    parent = _check_parent(session, principal.tenant_id, kind, body.parent_folder_id)
    cursor = parent
    while cursor is not None:
        if cursor == folder.id:
            raise BadRequest.fields(
                [("parentFolderId", "a folder cannot move under itself or its subfolders")]
            )
        cursor = session.get(Folder, cursor).parent_id  # type: ignore[union-attr]
    folder.parent_id = parent
    folder.name = body.name
    if kind == "traits":
        session.execute(
            update(Trait)
            .where(Trait.folder_id == folder.id, Trait.trait_type == FOLDER_TRAIT)
            .values(name=body.name)
        )
        bump_rules(session, principal.tenant_id)
    return folder


def delete_folder(session: Session, principal: Principal, kind: str, folder_id: int) -> None:
    folder = _folder(session, principal.tenant_id, kind, folder_id)
    _require_write(principal)
    if session.scalar(select(func.count()).where(Folder.parent_id == folder.id)):
        raise Conflict(f"folder {folder_id} has subfolders; delete or move them first")
    table: Any = Trait if kind == "traits" else Segment
    used = select(func.count()).where(table.folder_id == folder.id)
    if kind == "traits":
        folder_trait = session.scalar(
            select(Trait.id).where(Trait.folder_id == folder.id, Trait.trait_type == FOLDER_TRAIT)
        )
        used = used.where(Trait.trait_type != FOLDER_TRAIT)
        if folder_trait is not None:
            _refuse_if_used(session, principal.tenant_id, [folder_trait])
    if session.scalar(used):
        raise Conflict(f"folder {folder_id} is not empty; delete or move its {kind} first")
    session.delete(folder)
    session.flush()
    bump_rules(session, principal.tenant_id)


# -- traits ------------------------------------------------------------------------------------


def trait_json(
    trait: Trait, *, details: bool = True, metrics: dict[int, int] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sid": trait.id,
        "pid": trait.tenant_id,
        "name": trait.name,
        "description": trait.description,
        "traitType": trait.trait_type,
        "dataSourceId": trait.data_source_id,
        "folderId": trait.folder_id,
        "status": trait.status,
        "createTime": _ms(trait.create_time),
        "updateTime": _ms(trait.update_time),
    }
    if details:
        out |= {
            "traitRule": trait.trait_rule,
            "traitRuleVersion": trait.rule_version,
            "ttl": trait.ttl,
            "integrationCode": trait.integration_code,
            "comments": trait.comments,
            "type": trait.event_type,
        }
    if metrics is not None:
        out |= {f"uniques{d}Day": metrics.get(d, 0) for d in WINDOWS}
        out["uniquesLifetime"] = metrics.get(0, 0)
    return out


def get_trait(session: Session, principal: Principal, ref: str) -> Trait:
    principal.require(Capability.READ)
    query = select(Trait).where(
        Trait.tenant_id == principal.tenant_id, _ref_clause(ref, Trait.id, Trait.integration_code)
    )
    found = session.scalar(query.limit(1))
    if found is None:
        raise NotFound(f"trait {ref} does not exist")
    return found


def list_traits(session: Session, principal: Principal, q: ListQuery) -> tuple[list[Trait], int]:
    principal.require(Capability.READ)
    where: list[ColumnElement[bool]] = [Trait.tenant_id == principal.tenant_id]
    f = q.filters
    for name, column in (("folderId", Trait.folder_id), ("dataSourceId", Trait.data_source_id)):
        if name in f:
            where.append(column == _filter_id(f, name))
    if "integrationCode" in f:
        where.append(Trait.integration_code == f["integrationCode"])
    if "search" in f:
        where.append(Trait.name.ilike(f"%{f['search']}%"))
    query = select(Trait).where(*where).order_by(Trait.id)
    return _page(session, query, select(func.count()).select_from(Trait).where(*where), q)


def validate_trait_rule(text: str, field: str = "traitRule") -> list[str]:
    """The keys ``text`` reads, or a 400 naming the line and column of the error."""
    try:
        return sorted(compile_trait_rule(text).keys)
    except TraitRuleError as exc:
        raise BadRequest.fields([(field, str(exc))]) from None


def _check_trait_body(session: Session, tenant_id: int, body: TraitIn, own: int | None) -> None:
    problems = []
    ds = session.scalar(
        select(DataSource).where(
            DataSource.tenant_id == tenant_id, DataSource.id == body.data_source_id
        )
    )
    if ds is None:
        problems.append(("dataSourceId", f"data source {body.data_source_id} does not exist"))
    try:
        _folder(session, tenant_id, "traits", body.folder_id)
    except NotFound:
        problems.append(("folderId", f"trait folder {body.folder_id} does not exist"))
    if body.trait_type == "RULE_BASED_TRAIT" and not body.trait_rule.strip():
        problems.append(("traitRule", "a rule-based trait needs a rule"))
    if problems:
        raise BadRequest.fields(problems)
    if body.trait_rule.strip():
        validate_trait_rule(body.trait_rule)
    if ds is not None and ds.unique_trait_integration_codes and body.integration_code:
        query = select(Trait.id).where(
            Trait.data_source_id == ds.id, Trait.integration_code == body.integration_code
        )
        if own is not None:
            query = query.where(Trait.id != own)
        if session.scalar(query.limit(1)) is not None:
            raise Conflict(
                f"integration code {body.integration_code!r} is already used in data source {ds.id}"
            )


def _apply_trait(trait: Trait, body: TraitIn) -> None:
    trait.name = body.name
    trait.description = body.description
    trait.comments = body.comments
    trait.trait_type = body.trait_type
    trait.data_source_id = body.data_source_id
    trait.folder_id = body.folder_id
    trait.integration_code = body.integration_code or None
    trait.ttl = body.ttl
    trait.event_type = body.type
    trait.status = body.status


def create_trait(session: Session, principal: Principal, body: TraitIn, now: datetime) -> Trait:
    _require_write(principal)
    _check_trait_body(session, principal.tenant_id, body, None)
    trait = Trait(
        tenant_id=principal.tenant_id,
        trait_rule=body.trait_rule,
        rule_version=1,
        create_time=now,
        update_time=now,
    )
    _apply_trait(trait, body)
    session.add(trait)
    session.flush()
    session.add(TraitRuleVersion(trait_id=trait.id, version=1, trait_rule=body.trait_rule))
    bump_rules(session, principal.tenant_id)
    return trait


def update_trait(
    session: Session, principal: Principal, ref: str, body: TraitIn, now: datetime
) -> Trait:
    trait = get_trait(session, principal, ref)
    _require_write(principal)
    if trait.trait_type == FOLDER_TRAIT:
        raise BadRequest("folder traits follow their folder; rename or move the folder instead")
    _check_trait_body(session, principal.tenant_id, body, trait.id)
    _apply_trait(trait, body)
    if body.trait_rule != trait.trait_rule:
        trait.rule_version += 1
        trait.trait_rule = body.trait_rule
        session.add(
            TraitRuleVersion(
                trait_id=trait.id, version=trait.rule_version, trait_rule=body.trait_rule
            )
        )
    trait.update_time = now
    bump_rules(session, principal.tenant_id)
    return trait


def _segments_using(session: Session, tenant_id: int, trait_ids: Iterable[int]) -> list[int]:
    wanted = set(trait_ids)
    found = []
    for sid, rule in session.execute(
        select(Segment.id, Segment.segment_rule).where(Segment.tenant_id == tenant_id)
    ):
        if compile_segment_rule(rule).traits & wanted:
            found.append(sid)
    return found


def _refuse_if_used(session: Session, tenant_id: int, trait_ids: Sequence[int]) -> None:
    users = _segments_using(session, tenant_id, trait_ids)
    if users:
        raise Conflict(
            f"trait {', '.join(map(str, trait_ids))} is used by segment "
            f"{', '.join(map(str, users))}; remove it from the segment first"
        )


def delete_traits(session: Session, principal: Principal, refs: Sequence[str]) -> None:
    """Deletes every trait or none (a missing, folder or used trait refuses the whole call)."""
    traits = [get_trait(session, principal, ref) for ref in refs]
    _require_write(principal)
    if any(t.trait_type == FOLDER_TRAIT for t in traits):
        raise BadRequest("folder traits are deleted with their folder")
    _refuse_if_used(session, principal.tenant_id, [t.id for t in traits])
    for trait in traits:
        session.delete(trait)
    session.flush()
    bump_rules(session, principal.tenant_id)


def rule_versions(session: Session, principal: Principal, ref: str) -> list[dict[str, Any]]:
    trait = get_trait(session, principal, ref)
    rows = session.scalars(
        select(TraitRuleVersion)
        .where(TraitRuleVersion.trait_id == trait.id)
        .order_by(TraitRuleVersion.version.desc())
    )
    return [
        {"version": r.version, "traitRule": r.trait_rule, "createTime": _ms(r.create_time)}
        for r in rows
    ]


# -- segments ----------------------------------------------------------------------------------


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
        "createTime": _ms(segment.create_time),
        "updateTime": _ms(segment.update_time),
    }
    if metrics is not None:
        out |= {f"uniques{d}Day": metrics.get(d, 0) for d in WINDOWS}
        out["totalUniques"] = metrics.get(0, 0)
    return out


def get_segment(session: Session, principal: Principal, ref: str) -> Segment:
    principal.require(Capability.READ)
    query = select(Segment).where(
        Segment.tenant_id == principal.tenant_id,
        _ref_clause(ref, Segment.id, Segment.integration_code),
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
            where.append(column == _filter_id(f, name))
    if "integrationCode" in f:
        where.append(Segment.integration_code == f["integrationCode"])
    if "status" in f:
        where.append(Segment.status == f["status"].upper())
    if "containsTrait" in f:
        ids = _segments_using(session, principal.tenant_id, [_filter_id(f, "containsTrait")])
        where.append(Segment.id.in_(ids))
    query = select(Segment).where(*where).order_by(Segment.id)
    return _page(session, query, select(func.count()).select_from(Segment).where(*where), q)


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
        _folder(session, tenant_id, "segments", body.folder_id)
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
    _require_write(principal)
    _check_segment_body(session, principal.tenant_id, body, None)
    segment = Segment(tenant_id=principal.tenant_id, create_time=now, update_time=now)
    _apply_segment(segment, body)
    session.add(segment)
    session.flush()
    bump_rules(session, principal.tenant_id)
    return segment


def update_segment(
    session: Session, principal: Principal, ref: str, body: SegmentIn, now: datetime
) -> Segment:
    segment = get_segment(session, principal, ref)
    _require_write(principal)
    _check_segment_body(session, principal.tenant_id, body, segment.id)
    _apply_segment(segment, body)
    segment.update_time = now
    bump_rules(session, principal.tenant_id)
    return segment


def delete_segments(session: Session, principal: Principal, refs: Sequence[str]) -> None:
    segments = [get_segment(session, principal, ref) for ref in refs]
    _require_write(principal)
    for segment in segments:
        session.delete(segment)
    session.flush()
    bump_rules(session, principal.tenant_id)


def list_all_segments(session: Session, tenant_id: int) -> list[Segment]:
    """Every segment of a tenant, for the Target audience list (read-only there)."""
    return list(
        session.scalars(select(Segment).where(Segment.tenant_id == tenant_id).order_by(Segment.id))
    )


# -- populations -------------------------------------------------------------------------------


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

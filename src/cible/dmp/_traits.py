"""Traits: rule-based and onboarded, their rules validated by the parser that evaluates them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cible.dmp._common import (
    FOLDER_TRAIT,
    WINDOWS,
    ListQuery,
    bump_rules,
    epoch_ms,
    fetch_page,
    filter_id,
    get_folder,
    ref_clause,
    refuse_if_used,
    require_write,
)
from cible.dmp.schemas import TraitIn
from cible.dmp.tables import (
    DataSource,
    Trait,
    TraitRuleVersion,
)
from cible.dmp.traitrule import TraitRuleError, compile_trait_rule
from cible.dmp.transfers.labels import first_violation
from cible.errors import BadRequest, Conflict, NotFound
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability


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
        "createTime": epoch_ms(trait.create_time),
        "updateTime": epoch_ms(trait.update_time),
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
        Trait.tenant_id == principal.tenant_id, ref_clause(ref, Trait.id, Trait.integration_code)
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
            where.append(column == filter_id(f, name))
    if "integrationCode" in f:
        where.append(Trait.integration_code == f["integrationCode"])
    if "search" in f:
        where.append(Trait.name.ilike(f"%{f['search']}%"))
    query = select(Trait).where(*where).order_by(Trait.id)
    return fetch_page(session, query, select(func.count()).select_from(Trait).where(*where), q)


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
        get_folder(session, tenant_id, "traits", body.folder_id)
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
    require_write(principal)
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
    require_write(principal)
    if trait.trait_type == FOLDER_TRAIT:
        raise BadRequest("folder traits follow their folder; rename or move the folder instead")
    _check_trait_body(session, principal.tenant_id, body, trait.id)
    moved = body.data_source_id != trait.data_source_id
    _apply_trait(trait, body)
    if moved and (clash := first_violation(session, principal.tenant_id)) is not None:
        # Its segments now draw on another data source (AAM, "Data Export Controls").
        raise BadRequest.fields([("dataSourceId", clash)])
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


def delete_traits(session: Session, principal: Principal, refs: Sequence[str]) -> None:
    """Deletes every trait or none (a missing, folder or used trait refuses the whole call)."""
    traits = [get_trait(session, principal, ref) for ref in refs]
    require_write(principal)
    if any(t.trait_type == FOLDER_TRAIT for t in traits):
        raise BadRequest("folder traits are deleted with their folder")
    refuse_if_used(session, principal.tenant_id, [t.id for t in traits])
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
        {"version": r.version, "traitRule": r.trait_rule, "createTime": epoch_ms(r.create_time)}
        for r in rows
    ]

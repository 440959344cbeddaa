"""Audiences: create, read, list, replace, patch and (soft) delete, per tenant and workspace.

A ``targetRule`` is checked by the same compiler that later turns it into the artifact's JSON
Logic (``cible.artifacts.compile_target_rule``), so an audience the API accepts always compiles;
its error path (``targetRule.and[1].equals``) becomes the 400's field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from cible.activities import publish
from cible.activities.abxt.tables import Activity, ActivityRef
from cible.activities.audiences import _filters
from cible.activities.audiences.schemas import ORIGIN, AudienceIn, AudiencePatch
from cible.activities.audiences.tables import Audience
from cible.artifacts import TargetRuleError, compile_target_rule
from cible.errors import BadRequest, Conflict, Forbidden, NotFound
from cible.store.paging import Page, fetch_page
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability
from cible.tenants.service import workspace_for

SORTABLE: dict[str, Any] = {
    "id": Audience.id,
    "name": Audience.name,
    "modifiedAt": Audience.modified_at,
    "origin": Audience.origin,
    "workspace": Audience.workspace_id,
}


def _used_by_approved_activity(session: Session, audience: Audience) -> None:
    query = (
        select(Activity.id, Activity.name)
        .join(ActivityRef, ActivityRef.activity_id == Activity.id)
        .where(
            ActivityRef.tenant_id == audience.tenant_id,
            ActivityRef.kind == "audience",
            ActivityRef.ref_id == audience.id,
            Activity.state == "approved",
        )
        .order_by(Activity.id)
        .limit(1)
    )
    row = session.execute(query).first()
    if row is not None:
        raise Conflict(
            f"audience {audience.id} is used by approved activity {row.id} ({row.name!r}); "
            "deactivate the activity or remove the audience from it first"
        )


# Checks run before an audience is deleted; each raises ``Conflict`` when the audience is in use.
DELETE_GUARDS: list[Callable[[Session, Audience], None]] = [_used_by_approved_activity]


def _rule_text(rule: Mapping[str, Any]) -> str:
    try:
        compile_target_rule(rule)
    except TargetRuleError as exc:
        raise BadRequest.fields([(exc.path, exc.message)]) from None
    return orjson.dumps(rule).decode()


def _refuse_audience_rule(body: AudienceIn | AudiencePatch) -> None:
    if body.audience_rule is not None:
        raise BadRequest.fields(
            [
                (
                    "audienceRule",
                    "combined audiences are not supported; write a targetRule with and/or/not",
                )
            ]
        )


def _check_name_free(
    session: Session, tenant_id: int, ws_id: int, name: str, own: int | None
) -> None:
    existing = session.scalar(
        select(Audience.id).where(
            Audience.tenant_id == tenant_id,
            Audience.workspace_id == ws_id,
            Audience.name == name,
            Audience.deleted_at.is_(None),
        )
    )
    if existing is not None and existing != own:
        raise Conflict(
            f"an audience named {name!r} already exists in this workspace (id {existing})"
        )


def create_audience(
    session: Session, principal: Principal, body: AudienceIn, now: datetime
) -> Audience:
    _refuse_audience_rule(body)
    rule = _rule_text(body.target_rule)
    ws_id = workspace_for(session, principal, body.workspace, Capability.WRITE)
    _check_name_free(session, principal.tenant_id, ws_id, body.name, None)
    audience = Audience(
        tenant_id=principal.tenant_id,
        workspace_id=ws_id,
        name=body.name,
        description=body.description,
        target_rule=rule,
        created_at=now,
        modified_at=now,
        modified_by=principal.client_id,
    )
    session.add(audience)
    session.flush()
    return audience


def get_audience(
    session: Session,
    principal: Principal,
    audience_id: int,
    capability: Capability = Capability.READ,
) -> Audience:
    """The live audience, or 404 when it is deleted, another tenant's, or in a workspace the
    client cannot read (not 403, so hidden ids are not revealed)."""
    audience = session.get(Audience, audience_id)
    if (
        audience is None
        or audience.deleted_at is not None
        or audience.tenant_id != principal.tenant_id
        or not principal.can(Capability.READ, audience.workspace_id)
    ):
        raise NotFound(f"audience {audience_id} does not exist")
    principal.require(capability, audience.workspace_id)
    if capability is not Capability.READ and audience.origin != ORIGIN:
        # The audience manager's segments (Adobe's "Experience Cloud" source) are read-only in
        # Target; they change with their segment (cible.dmp.audiences).
        raise Forbidden(
            f"audience {audience_id} is audience manager segment {audience.segment_id} "
            f"(origin {audience.origin!r}) and is read-only here; change the segment through "
            "/v1/segments/"
        )
    return audience


def live_audiences(session: Session, tenant_id: int, ids: Iterable[int]) -> dict[int, Audience]:
    """The tenant's live (not deleted) audiences among ``ids``, by id."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.scalars(
        select(Audience).where(
            Audience.tenant_id == tenant_id,
            Audience.id.in_(wanted),
            Audience.deleted_at.is_(None),
        )
    )
    return {a.id: a for a in rows}


def _touch(audience: Audience, principal: Principal, now: datetime) -> None:
    audience.modified_at = now
    audience.modified_by = principal.client_id


def _check_id(body: AudienceIn | AudiencePatch, audience_id: int) -> None:
    if body.id is not None and body.id != audience_id:
        raise BadRequest.fields(
            [("id", f"does not match the audience id {audience_id} in the path")]
        )


def update_audience(
    session: Session, principal: Principal, audience_id: int, body: AudienceIn, now: datetime
) -> Audience:
    _check_id(body, audience_id)
    _refuse_audience_rule(body)
    rule = _rule_text(body.target_rule)
    audience = get_audience(session, principal, audience_id, Capability.WRITE)
    ws_id = audience.workspace_id
    if body.workspace is not None:
        ws_id = workspace_for(session, principal, body.workspace, Capability.WRITE)
    _check_name_free(session, principal.tenant_id, ws_id, body.name, audience.id)
    audience.workspace_id = ws_id
    audience.name = body.name
    audience.description = body.description
    audience.target_rule = rule
    _touch(audience, principal, now)
    session.flush()
    publish.audience_changed(session, principal.tenant_id, audience.id)
    return audience


def patch_audience(
    session: Session, principal: Principal, audience_id: int, body: AudiencePatch, now: datetime
) -> Audience:
    """Adobe's PATCH: only the fields present in the body change."""
    _check_id(body, audience_id)
    _refuse_audience_rule(body)
    given = body.model_fields_set & {"name", "description", "target_rule", "workspace"}
    if not given:
        raise BadRequest.fields(
            [("body", "give at least one of name, description, targetRule, workspace")]
        )
    for field in given:
        if getattr(body, field) is None:
            wire = {"target_rule": "targetRule"}.get(field, field)
            raise BadRequest.fields([(wire, "cannot be null")])
    rule = _rule_text(body.target_rule) if body.target_rule is not None else None
    audience = get_audience(session, principal, audience_id, Capability.WRITE)
    ws_id = audience.workspace_id
    if body.workspace is not None:
        ws_id = workspace_for(session, principal, body.workspace, Capability.WRITE)
    name = body.name if body.name is not None else audience.name
    _check_name_free(session, principal.tenant_id, ws_id, name, audience.id)
    audience.workspace_id = ws_id
    audience.name = name
    if body.description is not None:
        audience.description = body.description
    if rule is not None:
        audience.target_rule = rule
    _touch(audience, principal, now)
    session.flush()
    publish.audience_changed(session, principal.tenant_id, audience.id)
    return audience


def delete_audience(
    session: Session, principal: Principal, audience_id: int, now: datetime
) -> Audience:
    """Marks the audience deleted (it keeps its row) and returns it."""
    audience = get_audience(session, principal, audience_id, Capability.WRITE)
    for guard in DELETE_GUARDS:
        guard(session, audience)
    audience.deleted_at = now
    _touch(audience, principal, now)
    session.flush()
    publish.audience_changed(session, principal.tenant_id, audience.id)
    return audience


def _values(params: Mapping[str, list[str]], name: str) -> list[str]:
    """A filter's values: repeated (``?id=1&id=2``) or comma-separated (``?id=1,2``)."""
    return [v.strip() for raw in params.get(name, []) for v in raw.split(",") if v.strip()]


def list_audiences(
    session: Session, principal: Principal, page: Page, filters: Mapping[str, list[str]]
) -> tuple[list[Audience], int]:
    """Live audiences, filtered by ``origin`` and the filters of ``_filters`` (``id``,
    ``workspace``, ``name`` with ``!`` negation, ``modifiedAt``/``createdAt`` ranges)."""
    where: list[ColumnElement[bool]] = [
        Audience.tenant_id == principal.tenant_id,
        Audience.deleted_at.is_(None),
    ]
    readable = principal.readable_workspaces()
    if readable is not None:
        where.append(Audience.workspace_id.in_(readable))
    where += _filters.where(filters)
    if origins := _values(filters, "origin"):
        where.append(Audience.origin.in_(origins))
    order = [
        SORTABLE[f].desc() if desc else SORTABLE[f].asc()
        for f, desc in page.sort
        if SORTABLE[f] is not None
    ]
    return fetch_page(session, select(Audience).where(*where), page, [*order, Audience.id])

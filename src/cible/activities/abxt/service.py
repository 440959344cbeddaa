"""A/B and Experience Targeting activities: create, read, list, update, state, delete.

Rights follow Adobe's roles (``cible.tenants.roles``): editing needs WRITE; making an activity
live or stopping it (``approved``, ``deactivated``, and deleting a live one) needs ACTIVATE, which
approvers and publishers hold and editors do not. Every change is written to the changelog, and a
change to an activity that is or was approved enqueues a rebuild of the tenant's artifacts
(``cible.activities.publish``) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cible.activities import publish
from cible.activities.abxt import _filters, _validate, changelog
from cible.activities.abxt._render import activity_json, definition, snapshot
from cible.activities.abxt.schemas import DEFINITION_FIELDS, ActivityIn
from cible.activities.abxt.tables import Activity, ActivityRef
from cible.activities.audiences.tables import Audience
from cible.activities.mboxes.service import declare
from cible.activities.offers import service as offers
from cible.activities.offers.tables import Offer
from cible.activities.properties.tables import Property
from cible.artifacts import ArtifactError, compile_artifact
from cible.artifacts.tasks import compile_inputs, environments_of
from cible.errors import BadRequest, Conflict, NotFound
from cible.store.paging import Page, fetch_page
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability
from cible.tenants.service import workspace_for

TYPES = _filters.TYPES
STATES = _filters.STATES
SORTABLE: dict[str, Any] = {
    "id": Activity.id,
    "name": func.lower(Activity.name),
    "endsAt": Activity.ends_at,
    "thirdPartyId": Activity.third_party_id,
    "state": Activity.state,
    "type": Activity.type,
    "priority": Activity.priority,
    "modifiedAt": Activity.modified_at,
}


# -- reading -----------------------------------------------------------------------------------


def get_activity(
    session: Session,
    principal: Principal,
    activity_id: int,
    kind: str | None = None,
    capability: Capability = Capability.READ,
) -> Activity:
    """The activity, or 404 when it is another tenant's, of another type, deleted, or in a
    workspace the client cannot read (not 403, so hidden ids are not revealed)."""
    activity = session.get(Activity, activity_id)
    if (
        activity is None
        or activity.tenant_id != principal.tenant_id
        or (kind is not None and activity.type != kind)
        or activity.state == "deleted"
        or not principal.can(Capability.READ, activity.workspace_id)
    ):
        label = f"{kind} activity" if kind else "activity"
        raise NotFound(f"{label} {activity_id} does not exist")
    principal.require(capability, activity.workspace_id)
    return activity


def list_activities(
    session: Session, principal: Principal, page: Page, params: Mapping[str, Sequence[str]]
) -> tuple[list[Activity], int]:
    where = [Activity.tenant_id == principal.tenant_id, *_filters.where(params)]
    readable = principal.readable_workspaces()
    if readable is not None:
        where.append(Activity.workspace_id.in_(readable))
    order = [
        (SORTABLE[f].desc() if desc else SORTABLE[f].asc()).nulls_last() for f, desc in page.sort
    ]
    return fetch_page(session, select(Activity).where(*where), page, [*order, Activity.id])


# -- writing -----------------------------------------------------------------------------------


def _state_right(current: str | None, state: str) -> Capability:
    """The right to move an activity from ``current`` (None when new) to ``state``: making it
    live, stopping it (from ``approved`` to anything else) or archiving it needs ACTIVATE."""
    if state in ("approved", "deactivated") or (current == "approved" and state != "approved"):
        return Capability.ACTIVATE
    return Capability.WRITE


def _check_third_party_id(
    session: Session, tenant_id: int, value: str | None, own: int | None
) -> None:
    if value is None:
        return
    existing = session.scalar(
        select(Activity.id).where(Activity.tenant_id == tenant_id, Activity.third_party_id == value)
    )
    if existing is not None and existing != own:
        raise Conflict(f"thirdPartyId: activity {existing} already has thirdPartyId {value!r}")


def _apply(
    session: Session,
    principal: Principal,
    activity: Activity,
    kind: str,
    body: ActivityIn,
    offer_paths: Mapping[int, str] | None,
) -> None:
    """Validate ``body`` and write it onto ``activity`` (its workspace already set)."""
    problems: list[tuple[str, str]] = []
    starts, ends = _validate.schedule(body.starts_at, body.ends_at, problems)
    _validate.local_ids(kind, body, problems)
    _validate.references(
        session, principal.tenant_id, activity.workspace_id, body, problems, offer_paths
    )
    known = {env_id for env_id, _ in environments_of(session, principal.tenant_id)}
    for i, env_id in enumerate(body.environment_ids):
        if env_id not in known:
            problems.append((f"environmentIds[{i}]", f"environment {env_id} does not exist"))
    if body.property_ids:
        found = set(
            session.scalars(
                select(Property.id).where(
                    Property.tenant_id == principal.tenant_id,
                    Property.id.in_(body.property_ids),
                )
            )
        )
        for i, property_id in enumerate(body.property_ids):
            if property_id not in found:
                problems.append((f"propertyIds[{i}]", f"property {property_id} does not exist"))
    if body.type is not None and body.type != kind:
        problems.append(("type", f"this is an {kind} activity"))
    if problems:
        raise BadRequest.fields(problems)
    _check_third_party_id(session, principal.tenant_id, body.third_party_id, activity.id)
    declare(
        session,
        principal.tenant_id,
        [m.name for m in body.locations.mboxes]
        + [m.name for metric in body.metrics for m in metric.mboxes],
    )
    data = _without_empty_views(body.model_dump(by_alias=True, exclude_none=True))
    activity.name = body.name
    # Nothing may autoflush between here and _flush_claiming, which turns a lost race into a 409.
    activity.third_party_id = body.third_party_id
    activity.priority = body.priority
    activity.starts_at, activity.ends_at = starts, ends
    activity.definition = orjson.dumps(
        {k: data[k] for k in DEFINITION_FIELDS if k in data}
    ).decode()


def _without_empty_views(data: dict[str, Any]) -> dict[str, Any]:
    """The view fields left out when empty, so activities without views read as before."""
    if not data.get("views"):
        data.pop("views", None)
    locations = data.get("locations")
    if isinstance(locations, dict) and not locations.get("selectors"):
        locations.pop("selectors", None)
    for metric in data.get("metrics") or ():
        if not metric.get("clickTrackSelectors"):
            metric.pop("clickTrackSelectors", None)
    return data


def _flush_claiming(session: Session, activity: Activity) -> None:
    """Flush; a request racing on the same ``thirdPartyId`` that committed first makes it 409.

    ``_check_third_party_id`` cannot see a row another transaction has not committed yet; the
    unique constraint on (tenant, thirdPartyId) then refuses the second writer, which is a
    conflict, not a server error. The caller's session is rolled back by the raise.
    """
    claimed = activity.third_party_id  # read now: a failed flush leaves the session unusable
    try:
        session.flush()
    except IntegrityError as exc:
        if claimed is None or "third_party_id" not in str(exc.orig):
            raise
        raise Conflict(
            f"thirdPartyId: another activity took thirdPartyId {claimed!r} at the same time"
        ) from None


def _write_refs(session: Session, activity: Activity) -> None:
    body = ActivityIn.model_validate(definition(activity) | {"name": activity.name})
    session.execute(delete(ActivityRef).where(ActivityRef.activity_id == activity.id))
    refs = {("offer", o) for o, _ in _validate.offer_refs(body)}
    refs |= {("audience", a) for a, _ in _validate.audience_refs(body)}
    for ref_kind, ref_id in sorted(refs):
        session.add(
            ActivityRef(
                activity_id=activity.id,
                tenant_id=activity.tenant_id,
                kind=ref_kind,
                ref_id=ref_id,
            )
        )


def _check_approvable(session: Session, activity: Activity, now: datetime) -> None:
    """409 when an offer or audience the activity uses no longer exists."""
    body = ActivityIn.model_validate(definition(activity) | {"name": activity.name})
    for offer_id, path in _validate.offer_refs(body):
        offer = session.get(Offer, offer_id)
        if offer is None or offer.tenant_id != activity.tenant_id:
            raise Conflict(
                f"{path}: activity {activity.id} cannot be approved, "
                f"offer {offer_id} does not exist"
            )
    for audience_id, path in _validate.audience_refs(body):
        audience = session.get(Audience, audience_id)
        if audience is None or audience.deleted_at is not None:
            raise Conflict(
                f"{path}: activity {activity.id} cannot be approved, "
                f"audience {audience_id} does not exist"
            )
    # A trial compile, so that an activity the artifact job could not compile is refused here
    # rather than failing every later rebuild of the tenant.
    rendered = activity_json(activity)
    found_offers, found_audiences = compile_inputs(session, activity.tenant_id, [rendered])
    try:
        compile_artifact(
            client="-",
            environment="-",
            activities=[rendered],
            offers=found_offers,
            audiences=found_audiences,
            generated_at=now,
        )
    except ArtifactError as exc:
        path = exc.path.removeprefix("activities[0]").lstrip(".") or "activity"
        raise Conflict(
            f"{path}: activity {activity.id} cannot be approved, {exc.message}"
        ) from None


def _finish(
    session: Session,
    principal: Principal,
    activity: Activity,
    before: dict[str, Any],
    was_published: bool,
    now: datetime,
) -> Activity:
    """Stamp, log, index references and publish after any change."""
    if activity.state == "approved":
        _check_approvable(session, activity, now)
        activity.published = True
    activity.modified_at = now
    activity.modified_by = principal.client_id
    session.flush()
    _write_refs(session, activity)
    changelog.record(
        session, activity.id, principal.client_id, now, changelog.diff(before, snapshot(activity))
    )
    if was_published or activity.published:
        publish.request_rebuild(session, activity.tenant_id)
    session.flush()
    return activity


def create_activity(
    session: Session,
    principal: Principal,
    kind: str,
    body: ActivityIn,
    now: datetime,
    offer_paths: Mapping[int, str] | None = None,
) -> Activity:
    ws_id = workspace_for(session, principal, body.workspace, Capability.WRITE)
    state = body.state or "saved"
    if state == "deleted":
        raise BadRequest.fields([("state", "an activity cannot be created deleted")])
    principal.require(_state_right(None, state), ws_id)
    activity = Activity(
        tenant_id=principal.tenant_id,
        workspace_id=ws_id,
        type=kind,
        state=state,
        published=False,
        created_at=now,
    )
    _apply(session, principal, activity, kind, body, offer_paths)
    session.add(activity)
    _flush_claiming(session, activity)
    return _finish(session, principal, activity, {}, False, now)


def update_activity(
    session: Session,
    principal: Principal,
    activity_id: int,
    kind: str,
    body: ActivityIn,
    now: datetime,
    offer_paths: Mapping[int, str] | None = None,
) -> Activity:
    """PUT: the body replaces the definition; a changed ``state`` needs that state's right."""
    if body.id is not None and body.id != activity_id:
        raise BadRequest.fields([("id", f"does not match the activity id {activity_id}")])
    activity = get_activity(session, principal, activity_id, kind, Capability.WRITE)
    before, was_published = snapshot(activity), activity.published
    if body.workspace is not None:
        activity.workspace_id = workspace_for(session, principal, body.workspace, Capability.WRITE)
    state = body.state or activity.state
    if state == "deleted":
        raise BadRequest.fields([("state", "delete an activity with DELETE or PUT .../state")])
    if state != activity.state:
        principal.require(_state_right(activity.state, state), activity.workspace_id)
        activity.state = state
    _apply(session, principal, activity, kind, body, offer_paths)
    _flush_claiming(session, activity)
    return _finish(session, principal, activity, before, was_published, now)


def set_state(
    session: Session,
    principal: Principal,
    activity_id: int,
    kind: str | None,
    state: str,
    now: datetime,
) -> Activity:
    activity = get_activity(session, principal, activity_id, kind)
    principal.require(_state_right(activity.state, state), activity.workspace_id)
    before, was_published = snapshot(activity), activity.published
    if state == "deleted":
        # Deleting frees the thirdPartyId for a new activity; the changelog keeps it.
        activity.third_party_id = None
    activity.state = state
    return _finish(session, principal, activity, before, was_published, now)


def delete_activity(
    session: Session, principal: Principal, activity_id: int, kind: str, now: datetime
) -> Activity:
    """DELETE: the activity is kept with state ``deleted`` (for reports) and hidden."""
    return set_state(session, principal, activity_id, kind, "deleted", now)


def set_priority(
    session: Session,
    principal: Principal,
    activity_id: int,
    kind: str | None,
    priority: int,
    now: datetime,
) -> Activity:
    activity = get_activity(session, principal, activity_id, kind, Capability.WRITE)
    before, was_published = snapshot(activity), activity.published
    activity.priority = priority
    return _finish(session, principal, activity, before, was_published, now)


def set_name(
    session: Session,
    principal: Principal,
    activity_id: int,
    kind: str | None,
    name: str,
    now: datetime,
) -> Activity:
    activity = get_activity(session, principal, activity_id, kind, Capability.WRITE)
    before, was_published = snapshot(activity), activity.published
    activity.name = name
    return _finish(session, principal, activity, before, was_published, now)


def set_schedule(
    session: Session,
    principal: Principal,
    activity_id: int,
    kind: str | None,
    starts_at: str | None,
    ends_at: str | None,
    now: datetime,
) -> Activity:
    """``startsAt`` and ``endsAt`` replace the schedule; an absent one clears that bound."""
    activity = get_activity(session, principal, activity_id, kind, Capability.WRITE)
    problems: list[tuple[str, str]] = []
    starts, ends = _validate.schedule(starts_at, ends_at, problems)
    if problems:
        raise BadRequest.fields(problems)
    before, was_published = snapshot(activity), activity.published
    activity.starts_at, activity.ends_at = starts, ends
    return _finish(session, principal, activity, before, was_published, now)


def changelog_of(
    session: Session, principal: Principal, activity_id: int, page: Page
) -> tuple[list[dict[str, Any]], int]:
    activity = get_activity(session, principal, activity_id)
    return changelog.entries(session, activity.id, page)


# -- hooks into offers -------------------------------------------------------------------------


def _offer_in_use(session: Session, offer: Offer) -> None:
    """Offers ``DELETE_GUARDS``: an offer an approved activity uses cannot be deleted."""
    activity = session.scalar(
        select(Activity)
        .join(ActivityRef, ActivityRef.activity_id == Activity.id)
        .where(
            ActivityRef.tenant_id == offer.tenant_id,
            ActivityRef.kind == "offer",
            ActivityRef.ref_id == offer.id,
            Activity.state == "approved",
        )
        .order_by(Activity.id)
        .limit(1)
    )
    if activity is not None:
        raise Conflict(
            f"offer {offer.id} is used by approved activity {activity.id} ({activity.name!r}); "
            "deactivate the activity first"
        )


def _offer_changed(session: Session, offer: Offer) -> None:
    publish.offer_changed(session, offer.tenant_id, offer.id)


if _offer_in_use not in offers.DELETE_GUARDS:
    offers.DELETE_GUARDS.append(_offer_in_use)
if _offer_changed not in offers.ON_CHANGE:
    offers.ON_CHANGE.append(_offer_changed)

"""The ``artifacts.rebuild`` job: recompile and store every ``rules.json`` of one tenant.

Loads the tenant's approved activities with the offers and audiences they use, renders them as
the Admin API dicts ``compile_artifact`` takes, and stores one artifact per environment (and per
property token), all in one transaction: until it commits, the previous artifacts are served.
Idempotent, as a job must be: running it twice stores the same bytes.

Environments: the tenant's rows of the ``environments`` table, or, for a tenant that has none,
``production``, ``staging`` and ``development`` with ids 1, 2 and 3. An activity's
``environmentIds`` limit it to those environments; empty means all of them.

An environment no rebuild has stored yet is compiled on request by ``unbuilt_artifact``.

Property tokens: the artifact without a token holds the activities with no ``propertyIds``; the
artifact of a property's token holds those plus the activities that list that property.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.abxt._render import activity_json
from cible.activities.abxt.tables import Activity
from cible.activities.audiences.tables import Audience
from cible.activities.environments.tables import Environment
from cible.activities.offers.schemas import offer_json
from cible.activities.offers.tables import Offer
from cible.activities.properties.tables import Property
from cible.artifacts import ArtifactError, compile_artifact, dump_artifact
from cible.artifacts.store import StoredArtifact, etag_of, prune, replace
from cible.jobs import task
from cible.store import Database
from cible.store.base import utcnow
from cible.tenants.event_keys import event_token_keys
from cible.tenants.tables import Tenant

log = logging.getLogger("cible.artifacts")

DEFAULT_ENVIRONMENTS: tuple[tuple[int, str], ...] = (
    (1, "production"),
    (2, "staging"),
    (3, "development"),
)


def environments_of(session: Session, tenant_id: int) -> list[tuple[int, str]]:
    """``(id, artifact name)`` of each environment the tenant's artifacts are built for."""
    rows = session.scalars(
        select(Environment).where(Environment.tenant_id == tenant_id).order_by(Environment.id)
    )
    found = [(env.id, env.artifact_name) for env in rows]
    return found or list(DEFAULT_ENVIRONMENTS)


def audience_json(audience: Audience) -> dict[str, Any]:
    """An audience as ``compile_artifact`` reads it (Admin API ``Audience``)."""
    return {
        "id": audience.id,
        "name": audience.name,
        "targetRule": orjson.loads(audience.target_rule),
    }


def compile_inputs(
    session: Session, tenant_id: int, activities: list[dict[str, Any]]
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """The offers and audiences ``activities`` use, keyed by id."""
    offer_ids = {o["offerId"] for a in activities for o in a.get("options", [])}
    audience_ids: set[int] = set()
    for a in activities:
        for m in a.get("locations", {}).get("mboxes", []):
            audience_ids.update(m.get("audienceIds", []))
        for e in a.get("experiences", []):
            audience_ids.update(e.get("audienceIds", []))
        audience_ids.update(r["audienceId"] for r in a.get("reportingAudiences") or [])
    offers = {
        o.id: offer_json(o)
        for o in session.scalars(
            select(Offer).where(Offer.tenant_id == tenant_id, Offer.id.in_(offer_ids))
        )
    }
    audiences = {
        a.id: audience_json(a)
        for a in session.scalars(
            select(Audience).where(
                Audience.tenant_id == tenant_id,
                Audience.id.in_(audience_ids),
                Audience.deleted_at.is_(None),
            )
        )
    }
    return offers, audiences


def _in_environment(activity: dict[str, Any], env_id: int) -> bool:
    ids = activity.get("environmentIds") or []
    return not ids or env_id in ids


def _for_property(activity: dict[str, Any], property_id: int | None) -> bool:
    ids = activity.get("propertyIds") or []
    return not ids or (property_id is not None and property_id in ids)


def _compilable(
    tenant: Tenant,
    activities: list[dict[str, Any]],
    offers: dict[int, dict[str, Any]],
    audiences: dict[int, dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """``activities`` less those that cannot be compiled, each logged.

    Approval compiles an activity once (``cible.activities.abxt.service``), so this only catches
    what changed since; one broken activity must not keep every other change from being served.
    """
    kept = []
    for activity in activities:
        try:
            compile_artifact(
                client=tenant.client_code,
                environment="-",
                activities=[activity],
                offers=offers,
                audiences=audiences,
                generated_at=now,
            )
        except ArtifactError as exc:
            log.error(
                "activity left out of the artifacts",
                extra={"tenantId": tenant.id, "activityId": activity["id"], "error": str(exc)},
            )
            continue
        kept.append(activity)
    return kept


@dataclass
class _Inputs:
    """What the artifacts of one tenant are compiled from."""

    activities: list[dict[str, Any]]
    offers: dict[int, dict[str, Any]]
    audiences: dict[int, dict[str, Any]]
    latest: datetime
    # Event tokens are signed with the tenant's own key (cible.tenants.event_keys), so a token
    # from one tenant's artifact never counts for another's.
    token_key: bytes

    def artifact(
        self,
        tenant: Tenant,
        env_id: int,
        env_name: str,
        property_id: int | None,
        at: datetime,
        *,
        include_remote: bool = False,
    ) -> bytes:
        chosen = [
            a
            for a in self.activities
            if _in_environment(a, env_id) and _for_property(a, property_id)
        ]
        artifact = compile_artifact(
            client=tenant.client_code,
            environment=env_name,
            activities=chosen,
            offers=self.offers,
            audiences=self.audiences,
            generated_at=at,
            organization_id=tenant.organization_id,
            include_remote=include_remote,
            token_secret=self.token_key,
        )
        return dump_artifact(artifact)


def _inputs(session: Session, tenant: Tenant, now: datetime) -> _Inputs:
    rows = list(
        session.scalars(
            select(Activity)
            .where(Activity.tenant_id == tenant.id, Activity.state == "approved")
            .order_by(Activity.id)
        )
    )
    activities = [activity_json(a) for a in rows]
    offers, audiences = compile_inputs(session, tenant.id, activities)
    latest = max([a.modified_at for a in rows], default=tenant.created_at)
    return _Inputs(
        _compilable(tenant, activities, offers, audiences, now),
        offers,
        audiences,
        latest,
        event_token_keys(session, tenant.id, now=now)[0],
    )


def rebuild_tenant(session: Session, tenant_id: int, now: datetime) -> int:
    """Recompile and store every artifact of ``tenant_id``; returns how many were stored."""
    # Rebuilds of one tenant run one at a time (PostgreSQL row lock; SQLite has one writer):
    # otherwise a slower rebuild that read older activities could commit after a newer one.
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        return 0
    inputs = _inputs(session, tenant, now)
    properties: list[tuple[int | None, str]] = [(None, "")]
    properties += [
        (p.id, p.token)
        for p in session.scalars(
            select(Property).where(Property.tenant_id == tenant_id).order_by(Property.id)
        )
    ]
    built: set[tuple[str, str]] = set()
    for env_id, env_name in environments_of(session, tenant_id):
        for property_id, token in properties:
            body = inputs.artifact(tenant, env_id, env_name, property_id, now)
            server = inputs.artifact(
                tenant, env_id, env_name, property_id, now, include_remote=True
            )
            replace(session, tenant_id, env_name, body, now, token, server_body=server)
            built.add((env_name, token))
    prune(session, tenant_id, built)
    return len(built)


def unbuilt_artifact(
    session: Session,
    tenant: Tenant,
    env_id: int,
    env_name: str,
    property_id: int | None,
    *,
    include_remote: bool = False,
) -> StoredArtifact:
    """The artifact of an environment no rebuild has stored yet (a new tenant or environment),
    compiled from the database but not stored. Its ``generatedAt`` is the last change of an
    approved activity, so that it, and its ETag, stay the same from one request to the next."""
    inputs = _inputs(session, tenant, utcnow())
    body = inputs.artifact(
        tenant, env_id, env_name, property_id, inputs.latest, include_remote=include_remote
    )
    return StoredArtifact(body=body, etag=etag_of(body), generated_at=inputs.latest)


@task("artifacts.rebuild")
def rebuild(db: Database, payload: dict[str, Any]) -> None:
    with db.session() as session:
        rebuild_tenant(session, int(payload["tenantId"]), utcnow())

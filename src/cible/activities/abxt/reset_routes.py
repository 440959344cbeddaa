"""Activity reset route (Cible extension, ``POST .../{id}/reset``): parse, call, render.

Registered by the routers that own the activity paths, as the QA-link routes are:
``/activities/ab`` and ``/activities/xt`` (v1 and v3) and ``/activities/autoallocate`` (v1),
each finding the activity its own way: 404 for another tenant's, another type's, a deleted one
(deleted activities are hidden on every activity route) or one in a workspace the caller cannot
read. Resetting needs the right to activate (approver or publisher role): it changes what a live
activity reports and shows. The body is optional; when sent it is ``{}``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.responses import Response

from cible.activities.abxt import service
from cible.activities.abxt.reset import ResetIn, reset_activity
from cible.activities.abxt.tables import Activity
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability
from cible.web.admin import AdminCall, admin, admin_openapi, parse_body, read_body

__all__ = ["of_kind", "register"]

Fetch = Callable[[Session, Principal, int, Capability], Activity]


def of_kind(kind: str) -> Fetch:
    """The ``Fetch`` of ``/activities/{kind}``."""

    def fetch(
        session: Session, principal: Principal, activity_id: int, capability: Capability
    ) -> Activity:
        return service.get_activity(session, principal, activity_id, kind, capability)

    return fetch


def register(router: APIRouter, base: str, versions: tuple[int, ...], fetch: Fetch) -> None:
    """Adds ``POST {base}/{activity_id}/reset`` to ``router``."""
    label = base.rsplit("/", 1)[-1]

    @router.post(
        base + "/{activity_id}/reset",
        **admin_openapi(
            versions,
            summary=f"Reset an {label} activity's report data and assignments (Cible)",
            optional_body=True,
        ),
    )
    def reset(
        activity_id: int,
        call: AdminCall = Depends(admin(versions)),
        raw: bytes = Depends(read_body),
    ) -> Response:
        if raw.strip():
            parse_body(raw, call.version, {call.version: ResetIn})
        with call.db.session() as session:
            activity = fetch(session, call.principal, activity_id, Capability.ACTIVATE)
            return call.render(reset_activity(session, call.principal, activity, call.now))

    reset.__name__ = f"reset_{label}_activity"

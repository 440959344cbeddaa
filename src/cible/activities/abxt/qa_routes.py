"""QA-link routes (Adobe Admin API ``POST .../{id}/qamode``): parse, call ``qa.qa_links``, render.

Registered by the routers that own the activity paths: ``/activities/ab`` and ``/activities/xt``
serve v3, ``/activities/autoallocate`` v1 (Adobe's spec), each finding the activity its own way
(404 for another tenant's, another type's, a deleted one, or a workspace the caller cannot read).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.responses import Response

from cible.activities.abxt import service
from cible.activities.abxt.qa import QAModeIn, qa_links
from cible.activities.abxt.tables import Activity
from cible.tenants.principal import Principal
from cible.web.admin import AdminCall, admin, admin_openapi

__all__ = ["of_kind", "register"]

Fetch = Callable[[Session, Principal, int], Activity]


def of_kind(kind: str) -> Fetch:
    """The ``Fetch`` of ``/activities/{kind}`` (``ab`` also finds auto-allocate activities)."""

    def fetch(session: Session, principal: Principal, activity_id: int) -> Activity:
        return service.get_activity(session, principal, activity_id, kind)

    return fetch


def register(router: APIRouter, base: str, versions: tuple[int, ...], fetch: Fetch) -> None:
    """Adds ``POST {base}/{activity_id}/qamode`` to ``router``."""
    label = base.rsplit("/", 1)[-1]

    @router.post(
        base + "/{activity_id}/qamode",
        **admin_openapi(
            versions, body=QAModeIn, summary=f"QA links of an {label} activity, per experience"
        ),
    )
    def qamode(
        activity_id: int, call: AdminCall = Depends(admin(versions, body=QAModeIn))
    ) -> Response:
        with call.db.session() as session:
            activity = fetch(session, call.principal, activity_id)
            return call.render(qa_links(session, activity, call.body, call.now))

    qamode.__name__ = f"qamode_{label}_activity"

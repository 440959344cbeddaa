"""Resetting an activity's report data from the UI: a confirmation page, then the reset.

The reset cannot be undone (the report rows and the visitors' assignments are deleted), so the
button on the activity and report pages only leads to a page that says so; its form posts
``confirm=yes``, and a post without it changes nothing. The reset itself is
``cible.activities.abxt.reset.reset_activity``, the function behind the Admin API's
``POST .../{id}/reset`` (docs/activities.md, "Activity reset"), after the same lookup with the
activate right (approver, publisher): another role gets the 403 page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.abxt import service
from cible.activities.abxt.reset import reset_activity
from cible.errors import BadRequest
from cible.tenants.roles import Capability
from cible.ui._context import Ui, tenant_page

router = APIRouter()


@router.get("/{tenant}/activities/{activity_id}/reset", include_in_schema=False)
def reset_confirm(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        activity = service.get_activity(s, ui.principal, activity_id)
    return ui.render(
        "activities/reset.html",
        activity=activity,
        can_reset=ui.can("activate", activity.workspace_id),
    )


@router.post("/{tenant}/activities/{activity_id}/reset", include_in_schema=False)
def reset(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    """Resets the activity, then redirects to its report, empty, with the reset's notice."""
    assert ui.principal is not None
    with ui.session() as s:
        activity = service.get_activity(s, ui.principal, activity_id, None, Capability.ACTIVATE)
        if ui.field("confirm") != "yes":
            raise BadRequest.fields([("confirm", "must be yes (confirm the reset)")])
        reset_activity(s, ui.principal, activity, ui.now)
    return ui.redirect(ui.url(f"/activities/{activity_id}/report?notice=reset"))

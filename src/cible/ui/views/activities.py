"""Activities: the list (state, type, priority, traffic, recent impressions), the A/B and XT
form, approve and deactivate, the changelog, and the preview.

Writes go through ``cible.activities.abxt.service`` (which checks the role: approving needs the
activate right, as for an API client); the preview decides with ``cible.engine`` (see
``cible.ui._preview``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from starlette.responses import Response

from cible.activities.abxt import service
from cible.activities.abxt._render import activity_json, definition
from cible.activities.abxt.tables import Activity
from cible.activities.audiences import service as audiences
from cible.activities.offers import service as offers
from cible.activities.workspaces import service as workspaces
from cible.artifacts import store
from cible.artifacts.tasks import compile_inputs
from cible.delivery.tables import Event
from cible.errors import BadRequest, CibleError, Conflict, Forbidden
from cible.isotime import iso_millis
from cible.ui import _activity_form, _forms, _preview
from cible.ui._context import Ui, tenant_page
from cible.web.paging import Page

router = APIRouter()

SPARK_DAYS = 14
IMPRESSION_KINDS = ("impression", "display")
CHANGELOG = Page(offset=0, limit=200, sort=(("modifiedAt", True),))
PREVIEW_FIELDS = (
    "visitor_id",
    "mbox",
    "parameters",
    "profile",
    "url",
    "referring_url",
    "user_agent",
)


def _impressions(ui: Ui, ids: list[int]) -> dict[int, list[int]]:
    """Impressions per activity per day over the last ``SPARK_DAYS`` days (oldest first)."""
    series = {i: [0] * SPARK_DAYS for i in ids}
    if not ids:
        return series
    assert ui.principal is not None
    start = (ui.now - timedelta(days=SPARK_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with ui.session() as s:
        for day in range(SPARK_DAYS):
            low = start + timedelta(days=day)
            rows = s.execute(
                select(Event.activity_id, func.count())
                .where(
                    Event.tenant_id == ui.principal.tenant_id,
                    Event.activity_id.in_(ids),
                    Event.kind.in_(IMPRESSION_KINDS),
                    Event.occurred_at >= low,
                    Event.occurred_at < low + timedelta(days=1),
                )
                .group_by(Event.activity_id)
            )
            for activity_id, count in rows:
                if activity_id is not None:
                    series[int(activity_id)][day] = int(count)
    return series


def traffic(activity: Activity) -> str:
    exps = definition(activity).get("experiences", [])
    if activity.type == "ab":
        return " / ".join(f"{e.get('visitorPercentage') or 0}%" for e in exps)
    return f"{len(exps)} experiences by audience"


@router.get("/{tenant}/activities", include_in_schema=False)
def activity_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows, total = service.list_activities(s, ui.principal, _forms.ALL, {})
    sparks = _impressions(ui, [a.id for a in rows])
    items = [
        {"activity": a, "traffic": traffic(a), "spark": sparks[a.id], "seen": sum(sparks[a.id])}
        for a in rows
    ]
    return ui.render("activities/list.html", items=items, total=total, days=SPARK_DAYS)


def _choices(ui: Ui) -> dict[str, Any]:
    assert ui.principal is not None
    with ui.session() as s:
        found, _ = workspaces.list_workspaces(s, ui.principal, _forms.ALL)
        offer_rows, _ = offers.list_offers(s, ui.principal, _forms.ALL, None)
        audience_rows, _ = audiences.list_audiences(s, ui.principal, _forms.ALL, {})
    return {
        "workspaces": [(w.id, w.name) for w in found if ui.can("write", w.id)],
        "offers": [(o.id, f"{o.name} ({o.type})") for o in offer_rows],
        "audiences": [(a.id, a.name) for a in audience_rows],
    }


def _form(
    ui: Ui, activity: Activity | None, kind: str, errors: list[str], status: int = 200
) -> Response:
    if ui.form is not None:
        data = {
            k: ui.field(k)
            for k in (
                "name",
                "priority",
                "starts_at",
                "ends_at",
                "workspace",
                "location",
                "metric_mbox",
                "metric_event",
                "mode",
                "definition",
            )
        }
        rows = [
            {"name": n, "offer": o, "audience": a, "traffic": t}
            for n, o, a, t in zip(
                ui.fields("exp_name"),
                ui.fields("exp_offer"),
                ui.fields("exp_audience"),
                ui.fields("exp_traffic"),
                strict=False,
            )
            if o
        ]
    elif activity is not None:
        stored = definition(activity)
        built = _activity_form.rows_of(stored)
        data = {
            "name": activity.name,
            "priority": str(activity.priority),
            "starts_at": iso_millis(activity.starts_at) if activity.starts_at else "",
            "ends_at": iso_millis(activity.ends_at) if activity.ends_at else "",
            "workspace": str(activity.workspace_id),
            "mode": "rows" if built is not None else "json",
            "definition": _forms.pretty(stored),
            "location": built["location"] if built else "",
            "metric_mbox": built["metric_mbox"] if built else "",
            "metric_event": built["metric_event"] if built else "mbox_shown",
        }
        rows = built["rows"] if built else []
    else:
        data = {"priority": "5", "mode": "rows", "metric_event": "mbox_shown", "definition": "{}"}
        rows = []
    rows = rows + [_activity_form.blank_row()] * _activity_form.BLANK_ROWS
    return ui.render(
        "activities/form.html",
        status=status,
        activity=activity,
        kind=kind,
        data=data,
        rows=rows,
        errors=errors,
        **_choices(ui),
    )


@router.get("/{tenant}/activities/new", include_in_schema=False)
def activity_new(ui: Ui = Depends(tenant_page)) -> Response:
    kind = "xt" if ui.request.query_params.get("type") == "xt" else "ab"
    return _form(ui, None, kind, [])


@router.post("/{tenant}/activities", include_in_schema=False)
def activity_create(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    kind = "xt" if ui.field("type") == "xt" else "ab"
    try:
        body = _activity_form.body_from_form(ui, kind)
        with ui.session() as s:
            activity_id = service.create_activity(s, ui.principal, kind, body, ui.now).id
    except (BadRequest, Conflict) as exc:
        return _form(ui, None, kind, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/activities/{activity_id}"))


def _detail(ui: Ui, activity_id: int, errors: list[str], status: int = 200) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        activity = service.get_activity(s, ui.principal, activity_id)
        changes, _ = service.changelog_of(s, ui.principal, activity_id, CHANGELOG)
        rendered = activity_json(activity)
        found_offers, found_audiences = compile_inputs(s, ui.principal.tenant_id, [rendered])
    return ui.render(
        "activities/detail.html",
        status=status,
        activity=activity,
        a=rendered,
        changes=list(reversed(changes)),
        offers=found_offers,
        audiences=found_audiences,
        errors=errors,
        can_edit=ui.can("write", activity.workspace_id),
        can_activate=ui.can("activate", activity.workspace_id),
        mboxes=[m["name"] for m in rendered.get("locations", {}).get("mboxes", [])],
        preview={"visitor_id": "visitor-1"},
    )


@router.get("/{tenant}/activities/{activity_id}", include_in_schema=False)
def activity_detail(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    return _detail(ui, activity_id, [])


@router.get("/{tenant}/activities/{activity_id}/edit", include_in_schema=False)
def activity_edit(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    with ui.session() as s:
        assert ui.principal is not None
        activity = service.get_activity(s, ui.principal, activity_id)
    return _form(ui, activity, activity.type, [])


@router.post("/{tenant}/activities/{activity_id}", include_in_schema=False)
def activity_update(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        activity = service.get_activity(s, ui.principal, activity_id)
    try:
        body = _activity_form.body_from_form(ui, activity.type)
        with ui.session() as s:
            service.update_activity(s, ui.principal, activity_id, activity.type, body, ui.now)
    except (BadRequest, Conflict) as exc:
        return _form(ui, activity, activity.type, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/activities/{activity_id}"))


@router.post("/{tenant}/activities/{activity_id}/state", include_in_schema=False)
def activity_state(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    """Approve, deactivate or delete; the service refuses a role without the right (403)."""
    assert ui.principal is not None
    state = ui.field("state")
    if state not in ("approved", "deactivated", "deleted"):
        raise BadRequest.fields([("state", "must be approved, deactivated or deleted")])
    try:
        with ui.session() as s:
            service.set_state(s, ui.principal, activity_id, None, state, ui.now)
    except Conflict as exc:
        return _detail(ui, activity_id, _forms.messages(exc), 409)
    if state == "deleted":
        return ui.redirect(ui.url("/activities"))
    return ui.redirect(ui.url(f"/activities/{activity_id}"))


def _names(rendered: dict[str, Any]) -> dict[int, str]:
    return {
        int(e["experienceLocalId"]): str(e.get("name") or f"Experience {e['experienceLocalId']}")
        for e in rendered.get("experiences", [])
    }


@router.post("/{tenant}/activities/{activity_id}/preview", include_in_schema=False)
def activity_preview(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    """Which experience a visitor gets (an htmx fragment), with the engine's reasons."""
    assert ui.principal is not None
    notes: list[str] = []
    try:
        visitor = _preview.visitor_from({k: ui.field(k) for k in PREVIEW_FIELDS})
        with ui.session() as s:
            activity = service.get_activity(s, ui.principal, activity_id)
            rendered = activity_json(activity)
            served = None
            if activity.state == "approved":
                served = store.current(
                    s,
                    ui.principal.tenant_id,
                    ui.settings.delivery_environment.lower(),
                    server=True,
                )
                if served is not None and served.generated_at < activity.modified_at:
                    notes.append(
                        "The served artifact predates the last change (a rebuild is queued): "
                        "this preview compiled the activity alone."
                    )
                    served = None
            if served is not None:
                source = f"served artifact ({ui.settings.delivery_environment}, built "
                source += f"{iso_millis(served.generated_at)})"
                outcome = _preview.decide_stored(served.body, visitor, ui.now, ui.tenant)
                names = dict(
                    s.execute(
                        select(Activity.id, Activity.name).where(
                            Activity.tenant_id == ui.principal.tenant_id
                        )
                    )
                    .tuples()
                    .all()
                )
            else:
                source = "this activity alone, as if approved"
                trial = {**rendered, "state": "approved"}
                found_offers, found_audiences = compile_inputs(s, ui.principal.tenant_id, [trial])
                outcome = _preview.decide_trial(
                    visitor, ui.now, ui.tenant, [trial], found_offers, found_audiences
                )
                names = {activity.id: activity.name}
    except (BadRequest, Forbidden) as exc:
        return ui.render("activities/_preview.html", errors=_forms.messages(exc), outcome=None)
    except CibleError as exc:
        return ui.render("activities/_preview.html", errors=_forms.messages(exc), outcome=None)
    return ui.render(
        "activities/_preview.html",
        errors=[],
        outcome=outcome,
        source=source,
        notes=notes,
        experiences=_names(rendered),
        this=activity_id,
        names=names,
        visitor=visitor,
    )

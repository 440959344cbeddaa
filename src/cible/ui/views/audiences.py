"""Audiences: a rule builder over Adobe's ``targetRule`` JSON and a live "would this visitor
match?" tester.

The builder's rows (category, attribute, operator, values) become the ``targetRule`` the Admin
API takes; a rule the rows cannot express is edited as JSON. Saving goes through
``cible.activities.audiences.service``; the tester decides the rule being edited with the engine
(``cible.ui._preview``), saved or not.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.audiences import service
from cible.activities.audiences.schemas import AudienceIn
from cible.activities.audiences.tables import Audience
from cible.activities.workspaces import service as workspaces
from cible.artifacts.targeting import CATEGORIES, OPERATORS
from cible.errors import BadRequest, CibleError, Conflict
from cible.ui import _forms, _preview
from cible.ui._context import Ui, tenant_page

router = APIRouter()

NUMBER_OPERATORS = frozenset(
    {"lessThan", "lessThanOrEquals", "greaterThan", "greaterThanOrEquals", "between"}
)
NO_VALUES = frozenset({"exists", "notExists"})
BLANK_ROWS = 2
TESTER_FIELDS = ("visitor_id", "parameters", "profile", "url", "referring_url", "user_agent")


def _value(text: str, operator: str) -> Any:
    if operator in NUMBER_OPERATORS:
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return text


def rule_from_rows(ui: Ui) -> dict[str, Any]:
    """The ``targetRule`` the builder's rows describe (or the JSON field in JSON mode)."""
    if ui.field("mode") == "json":
        rule = _forms.json_field("targetRule", ui.field("rule_json"))
        if not isinstance(rule, dict):
            raise BadRequest.fields([("targetRule", "must be a JSON object")])
        return rule
    conditions = []
    rows = zip(
        ui.fields("category"),
        ui.fields("attribute"),
        ui.fields("operator"),
        ui.fields("values"),
        strict=False,
    )
    for i, (category, attribute, operator, values) in enumerate(rows):
        if not attribute.strip():
            continue
        if category not in CATEGORIES or operator not in OPERATORS:
            raise BadRequest.fields([(f"rows[{i}]", "choose a category and an operator")])
        parts = [] if operator in NO_VALUES else [v.strip() for v in values.split(",") if v.strip()]
        conditions.append(
            {category: attribute.strip(), operator: [_value(p, operator) for p in parts]}
        )
    if not conditions:
        raise BadRequest.fields([("targetRule", "add at least one condition")])
    if len(conditions) == 1:
        return conditions[0]
    return {"or" if ui.field("combine") == "any" else "and": conditions}


def rows_of(rule: dict[str, Any]) -> tuple[str, list[dict[str, str]]] | None:
    """The builder rows of ``rule``, or None when only the JSON editor can show it."""
    combine, items = "all", [rule]
    if set(rule) == {"and"} or set(rule) == {"or"}:
        combine = "any" if "or" in rule else "all"
        items = rule.get("and") or rule.get("or") or []
    rows = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 2:
            return None
        category = next((k for k in item if k in CATEGORIES), None)
        operator = next((k for k in item if k in OPERATORS), None)
        if category is None or operator is None or not isinstance(item[operator], list):
            return None
        if not isinstance(item[category], str):
            return None
        values = ", ".join(str(v) for v in item[operator])
        rows.append(
            {
                "category": category,
                "attribute": item[category],
                "operator": operator,
                "values": values,
            }
        )
    return combine, rows


def _form(ui: Ui, audience: Audience | None, errors: list[str], status: int = 200) -> Response:
    if ui.form is not None:
        data = {k: ui.field(k) for k in ("name", "description", "workspace", "combine", "mode")}
        data["rule_json"] = ui.field("rule_json")
        rows = [
            {"category": c, "attribute": a, "operator": o, "values": v}
            for c, a, o, v in zip(
                ui.fields("category"),
                ui.fields("attribute"),
                ui.fields("operator"),
                ui.fields("values"),
                strict=False,
            )
            if a.strip()
        ]
        tester = {k: ui.field(k) for k in TESTER_FIELDS}
    else:
        rule = orjson.loads(audience.target_rule) if audience is not None else None
        built = rows_of(rule) if rule is not None else ("all", [])
        data = {
            "name": audience.name if audience else "",
            "description": audience.description if audience else "",
            "workspace": str(audience.workspace_id) if audience else "",
            "combine": built[0] if built else "all",
            "mode": "rows" if built is not None else "json",
            "rule_json": _forms.pretty(rule) if rule is not None else "",
        }
        rows = built[1] if built else []
        tester = {"visitor_id": "visitor-1"}
    blank = {"category": "mbox", "attribute": "", "operator": "equals", "values": ""}
    with ui.session() as s:
        assert ui.principal is not None
        found, _ = workspaces.list_workspaces(s, ui.principal, _forms.ALL)
    writable = [(w.id, w.name) for w in found if ui.can("write", w.id)]
    return ui.render(
        "audiences/form.html",
        status=status,
        audience=audience,
        data=data,
        rows=rows + [blank] * BLANK_ROWS,
        tester=tester,
        errors=errors,
        workspaces=writable,
        categories=CATEGORIES,
        operators=OPERATORS,
    )


def _body(ui: Ui) -> AudienceIn:
    data: dict[str, Any] = {
        "name": ui.field("name").strip(),
        "description": ui.field("description"),
        "targetRule": rule_from_rows(ui),
    }
    if ui.field("workspace"):
        data["workspace"] = ui.field("workspace")
    return _forms.body(AudienceIn, data)


@router.get("/{tenant}/audiences", include_in_schema=False)
def audience_list(ui: Ui = Depends(tenant_page)) -> Response:
    with ui.session() as s:
        assert ui.principal is not None
        rows, total = service.list_audiences(s, ui.principal, _forms.ALL, {})
    return ui.render("audiences/list.html", audiences=rows, total=total)


@router.get("/{tenant}/audiences/new", include_in_schema=False)
def audience_new(ui: Ui = Depends(tenant_page)) -> Response:
    return _form(ui, None, [])


@router.post("/{tenant}/audiences/test", include_in_schema=False)
def audience_test(ui: Ui = Depends(tenant_page)) -> Response:
    """The tester's verdict (an htmx fragment): the rule being edited, decided for a visitor."""
    try:
        rule = rule_from_rows(ui)
        visitor = _preview.visitor_from({k: ui.field(k) for k in TESTER_FIELDS})
        outcome = _preview.audience_matches(rule, visitor, ui.now, ui.tenant)
    except CibleError as exc:
        return ui.render("audiences/_verdict.html", errors=_forms.messages(exc), outcome=None)
    return ui.render(
        "audiences/_verdict.html", errors=[], outcome=outcome, rule=_forms.pretty(rule)
    )


@router.post("/{tenant}/audiences", include_in_schema=False)
def audience_create(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    try:
        body = _body(ui)
        with ui.session() as s:
            audience_id = service.create_audience(s, ui.principal, body, ui.now).id
    except (BadRequest, Conflict) as exc:
        return _form(ui, None, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/audiences/{audience_id}"))


@router.get("/{tenant}/audiences/{audience_id}", include_in_schema=False)
def audience_edit(audience_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    with ui.session() as s:
        assert ui.principal is not None
        audience = service.get_audience(s, ui.principal, audience_id)
    return _form(ui, audience, [])


@router.post("/{tenant}/audiences/{audience_id}", include_in_schema=False)
def audience_update(audience_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        audience = service.get_audience(s, ui.principal, audience_id)
    try:
        body = _body(ui)
        with ui.session() as s:
            service.update_audience(s, ui.principal, audience_id, body, ui.now)
    except (BadRequest, Conflict) as exc:
        return _form(ui, audience, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/audiences/{audience_id}"))


@router.post("/{tenant}/audiences/{audience_id}/delete", include_in_schema=False)
def audience_delete(audience_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    try:
        with ui.session() as s:
            service.delete_audience(s, ui.principal, audience_id, ui.now)
    except Conflict as exc:
        with ui.session() as s:
            audience = service.get_audience(s, ui.principal, audience_id)
        ui.form = None
        return _form(ui, audience, _forms.messages(exc), 409)
    return ui.redirect(ui.url("/audiences"))

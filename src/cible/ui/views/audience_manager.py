"""Audience manager pages: trait and segment folders, and editors for traits and segments.

Every read and write goes through ``cible.dmp.service`` with the body the ``/v1`` API takes
(``TraitIn``, ``SegmentIn``, ``FolderIn``), so the rules are checked by the same parsers. A rule
being edited is checked as you type (an htmx fragment): a malformed rule shows AAM's message and
a caret under the line and column it names. Pages show the populations the ``dmp.populations``
job last computed (docs/audience-manager.md).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.responses import Response

from cible.dmp import service
from cible.dmp.schemas import FolderIn, SegmentIn, TraitIn
from cible.dmp.tables import Segment, Trait
from cible.errors import BadRequest, CibleError, Conflict, NotFound
from cible.ui import _forms
from cible.ui._context import Ui, tenant_page

router = APIRouter()

ALL = service.ListQuery(page=0, page_size=1000, filters={})
WINDOWS = (1, 7, 30, 60)
_POSITION = re.compile(r"\(line (\d+), column (\d+)\)")
TRAIT_FIELDS = ("name", "traitType", "dataSourceId", "folderId", "traitRule", "ttl", "status")
SEGMENT_FIELDS = ("name", "dataSourceId", "folderId", "segmentRule", "mergeRuleDataSourceId")


def _flat(tree: list[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    """The folder tree, depth first, each folder with its ``depth``."""
    out: list[dict[str, Any]] = []
    for node in tree:
        out.append({**node, "depth": depth})
        out.extend(_flat(node.get("subFolders") or [], depth + 1))
    return out


def _choices(s: Session, ui: Ui, kind: str) -> dict[str, Any]:
    assert ui.principal is not None
    sources, _ = service.list_data_sources(s, ui.principal, ALL)
    return {
        "folders": _flat(service.folder_tree(s, ui.principal, kind)),
        "sources": [(d.id, d.name) for d in sources],
        "merge_sources": [
            (d.id, f"{d.name} ({d.merge_rule})")
            for d in sources
            if d.id_type == "CROSS_DEVICE" and d.authenticated_profile
        ],
    }


def _where(message: str, text: str) -> dict[str, Any] | None:
    """The line of ``text`` a rule error names and the column under it, for the caret."""
    found = _POSITION.search(message)
    if found is None:
        return None
    line, column = int(found.group(1)), int(found.group(2))
    lines = text.splitlines() or [""]
    if not 1 <= line <= len(lines):
        return None
    return {"line": line, "column": column, "text": lines[line - 1], "pad": " " * (column - 1)}


def _check(ui: Ui, kind: str, text: str) -> dict[str, Any]:
    """What the rule check fragment shows for ``text``."""
    assert ui.principal is not None
    try:
        if kind == "traits":
            keys = service.validate_trait_rule(text)
            return {"valid": True, "keys": keys, "errors": []}
        with ui.session() as s:
            service.validate_segment_rule(s, ui.principal.tenant_id, text)
        return {"valid": True, "keys": [], "errors": []}
    except CibleError as exc:
        messages = _forms.messages(exc)
        where = next((w for m in messages if (w := _where(m, text)) is not None), None)
        return {"valid": False, "keys": [], "errors": messages, "where": where}


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _trait_body(ui: Ui) -> TraitIn:
    data: dict[str, Any] = {
        "name": ui.field("name").strip(),
        "traitType": ui.field("traitType") or "RULE_BASED_TRAIT",
        "dataSourceId": _int_or_none(ui.field("dataSourceId")),
        "folderId": _int_or_none(ui.field("folderId")),
        "traitRule": ui.field("traitRule"),
        "ttl": _int_or_none(ui.field("ttl")) if ui.field("ttl").strip() else 120,
        "description": ui.field("description"),
        "status": ui.field("status") or "ACTIVE",
    }
    return _forms.body(TraitIn, data)


def _segment_body(ui: Ui) -> SegmentIn:
    data: dict[str, Any] = {
        "name": ui.field("name").strip(),
        "dataSourceId": _int_or_none(ui.field("dataSourceId")),
        "folderId": _int_or_none(ui.field("folderId")),
        "segmentRule": ui.field("segmentRule"),
        "mergeRuleDataSourceId": _int_or_none(ui.field("mergeRuleDataSourceId")),
        "description": ui.field("description"),
        "status": ui.field("status") or "ACTIVE",
    }
    return _forms.body(SegmentIn, data)


def _trait_data(trait: Trait | None, folder: str = "") -> dict[str, str]:
    if trait is None:
        return {
            "name": "",
            "traitType": "RULE_BASED_TRAIT",
            "dataSourceId": "",
            "folderId": folder,
            "traitRule": "",
            "ttl": "120",
            "description": "",
            "status": "ACTIVE",
        }
    return {
        "name": trait.name,
        "traitType": trait.trait_type,
        "dataSourceId": str(trait.data_source_id),
        "folderId": str(trait.folder_id),
        "traitRule": trait.trait_rule,
        "ttl": str(trait.ttl),
        "description": trait.description,
        "status": trait.status,
    }


def _segment_data(segment: Segment | None, folder: str = "") -> dict[str, str]:
    if segment is None:
        return {
            "name": "",
            "dataSourceId": "",
            "folderId": folder,
            "segmentRule": "",
            "mergeRuleDataSourceId": "",
            "description": "",
            "status": "ACTIVE",
        }
    merge = segment.merge_rule_data_source_id
    return {
        "name": segment.name,
        "dataSourceId": str(segment.data_source_id),
        "folderId": str(segment.folder_id),
        "segmentRule": segment.segment_rule,
        "mergeRuleDataSourceId": "" if merge is None else str(merge),
        "description": segment.description,
        "status": segment.status,
    }


def _posted(ui: Ui, kind: str) -> dict[str, str]:
    names = TRAIT_FIELDS if kind == "traits" else SEGMENT_FIELDS
    return {name: ui.field(name) for name in (*names, "description", "status")}


# -- lists -------------------------------------------------------------------------------------


def _list(ui: Ui, kind: str, errors: list[str] | None = None, status: int = 200) -> Response:
    assert ui.principal is not None
    folder = _int_or_none(ui.request.query_params.get("folder", ""))
    filters = {"folderId": str(folder)} if folder is not None else {}
    query = service.ListQuery(page=0, page_size=1000, filters=filters)
    with ui.session() as s:
        folders = _flat(service.folder_tree(s, ui.principal, kind))
        rows: list[Any]
        if kind == "traits":
            rows, total = service.list_traits(s, ui.principal, query)
        else:
            rows, total = service.list_segments(s, ui.principal, query)
        counts = service.populations(
            s, ui.principal.tenant_id, kind.removesuffix("s"), [r.id for r in rows]
        )
    return ui.render(
        f"audience_manager/{kind}.html",
        status=status,
        rows=rows,
        total=total,
        folders=folders,
        folder=folder,
        counts=counts,
        windows=WINDOWS,
        errors=errors or [],
    )


@router.get("/{tenant}/traits", include_in_schema=False)
def trait_list(ui: Ui = Depends(tenant_page)) -> Response:
    return _list(ui, "traits")


@router.get("/{tenant}/segments", include_in_schema=False)
def segment_list(ui: Ui = Depends(tenant_page)) -> Response:
    return _list(ui, "segments")


def _create_folder(ui: Ui, kind: str) -> Response:
    assert ui.principal is not None
    try:
        body = _forms.body(
            FolderIn,
            {"name": ui.field("name").strip(), "parentFolderId": ui.field("parent") or "0"},
        )
        with ui.session() as s:
            created = service.create_folder(s, ui.principal, kind, body, ui.now).id
    except (BadRequest, Conflict, NotFound) as exc:
        return _list(ui, kind, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/{kind}?folder={created}"))


@router.post("/{tenant}/traits/folders", include_in_schema=False)
def trait_folder_create(ui: Ui = Depends(tenant_page)) -> Response:
    return _create_folder(ui, "traits")


@router.post("/{tenant}/segments/folders", include_in_schema=False)
def segment_folder_create(ui: Ui = Depends(tenant_page)) -> Response:
    return _create_folder(ui, "segments")


# -- rule checks (htmx fragments) -------------------------------------------------------------


@router.post("/{tenant}/traits/validate", include_in_schema=False)
def trait_validate(ui: Ui = Depends(tenant_page)) -> Response:
    return ui.render(
        "audience_manager/_check.html", check=_check(ui, "traits", ui.field("traitRule"))
    )


@router.post("/{tenant}/segments/validate", include_in_schema=False)
def segment_validate(ui: Ui = Depends(tenant_page)) -> Response:
    return ui.render(
        "audience_manager/_check.html", check=_check(ui, "segments", ui.field("segmentRule"))
    )


# -- editors -----------------------------------------------------------------------------------


def _form(
    ui: Ui,
    kind: str,
    item: Trait | Segment | None,
    data: dict[str, str],
    errors: list[str],
    status: int = 200,
) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        choices = _choices(s, ui, kind)
        counts = (
            service.populations(s, ui.principal.tenant_id, kind.removesuffix("s"), [item.id])
            if item is not None
            else {}
        )
    rule_field = "traitRule" if kind == "traits" else "segmentRule"
    check = None
    if errors and data.get(rule_field):
        check = _check(ui, kind, data[rule_field])
    return ui.render(
        f"audience_manager/{kind.removesuffix('s')}_form.html",
        status=status,
        item=item,
        data=data,
        errors=errors,
        check=check,
        counts=counts.get(item.id, {}) if item is not None else {},
        windows=WINDOWS,
        **choices,
    )


@router.get("/{tenant}/traits/new", include_in_schema=False)
def trait_new(ui: Ui = Depends(tenant_page)) -> Response:
    folder = ui.request.query_params.get("folder", "")
    return _form(ui, "traits", None, _trait_data(None, folder), [])


@router.get("/{tenant}/segments/new", include_in_schema=False)
def segment_new(ui: Ui = Depends(tenant_page)) -> Response:
    folder = ui.request.query_params.get("folder", "")
    return _form(ui, "segments", None, _segment_data(None, folder), [])


@router.post("/{tenant}/traits", include_in_schema=False)
def trait_create(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    try:
        body = _trait_body(ui)
        with ui.session() as s:
            sid = service.create_trait(s, ui.principal, body, ui.now).id
    except (BadRequest, Conflict, NotFound) as exc:
        return _form(ui, "traits", None, _posted(ui, "traits"), _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/traits/{sid}"))


@router.post("/{tenant}/segments", include_in_schema=False)
def segment_create(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    try:
        body = _segment_body(ui)
        with ui.session() as s:
            sid = service.create_segment(s, ui.principal, body, ui.now).id
    except (BadRequest, Conflict, NotFound) as exc:
        posted = _posted(ui, "segments")
        return _form(ui, "segments", None, posted, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/segments/{sid}"))


@router.get("/{tenant}/traits/{sid}", include_in_schema=False)
def trait_edit(sid: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        trait = service.get_trait(s, ui.principal, str(sid))
        s.expunge(trait)
    return _form(ui, "traits", trait, _trait_data(trait), [])


@router.get("/{tenant}/segments/{sid}", include_in_schema=False)
def segment_edit(sid: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        segment = service.get_segment(s, ui.principal, str(sid))
        s.expunge(segment)
    return _form(ui, "segments", segment, _segment_data(segment), [])


@router.post("/{tenant}/traits/{sid}", include_in_schema=False)
def trait_update(sid: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        trait = service.get_trait(s, ui.principal, str(sid))
        s.expunge(trait)
    try:
        body = _trait_body(ui)
        with ui.session() as s:
            service.update_trait(s, ui.principal, str(sid), body, ui.now)
    except (BadRequest, Conflict, NotFound) as exc:
        posted = _posted(ui, "traits")
        return _form(ui, "traits", trait, posted, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/traits/{sid}"))


@router.post("/{tenant}/segments/{sid}", include_in_schema=False)
def segment_update(sid: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        segment = service.get_segment(s, ui.principal, str(sid))
        s.expunge(segment)
    try:
        body = _segment_body(ui)
        with ui.session() as s:
            service.update_segment(s, ui.principal, str(sid), body, ui.now)
    except (BadRequest, Conflict, NotFound) as exc:
        posted = _posted(ui, "segments")
        return _form(ui, "segments", segment, posted, _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/segments/{sid}"))

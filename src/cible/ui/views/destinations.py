"""Audience manager destinations: the list, an editor with segment mappings, and dead letters.

Writes go through ``cible.dmp.transfers.service`` with the bodies ``/v1/destinations/`` takes
(``DestinationIn``, ``MappingIn``), so the UI checks nothing the API would not. A destination's
type-specific settings (URL formats, cookie format, the real-time endpoint and its signing, a
batch file destination's location and templates) are edited as the JSON the API reads and
returns, with secrets masked: sending the mask back keeps the stored secret. A real-time
destination's dead letters are listed with a button that puts each back in the outbox
(docs/audience-manager.md, "Data exchange").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from starlette.responses import Response

from cible.dmp import service as dmp
from cible.dmp._common import MAX_ID, require_write
from cible.dmp.transfers import s2s, service
from cible.dmp.transfers.schemas import DestinationIn, MappingIn
from cible.dmp.transfers.tables import DEAD, Destination, DestinationMapping, S2SMessage
from cible.errors import BadRequest, Conflict, NotFound
from cible.ui import _forms
from cible.ui._context import Ui, tenant_page

router = APIRouter()

ALL = dmp.ListQuery(page=0, page_size=1000, filters={})
TYPES = {
    "PUSH": "URL destination",
    "ADS": "Cookie destination",
    "S2S": "Real-time HTTP",
    "FILE": "Batch file",
}
# What a new destination's settings start from (the API's fields; see docs/audience-manager.md).
STARTERS: dict[str, dict[str, Any]] = {
    "PUSH": {
        "urlFormatString": "https://partner.example/sync?segs=%ALIAS%",
        "secureUrlFormatString": "",
        "serializationEnabled": True,
        "delimiter": ",",
        "tagType": "img",
    },
    "ADS": {
        "cookieName": "aam_segs",
        "cnameDomain": "",
        "ttl": 30,
        "formatType": "single_key",
        "singleKey": "segs",
        "serializationSeparator": ",",
    },
    "S2S": {
        "url": "https://partner.example/aam",
        "userDpid": None,
        "clientId": "",
        "timeoutMs": 3000,
        "maxAttempts": 8,
        "maxUsersPerMessage": 10,
        "signature": {"algorithm": "HmacSHA256", "header": "X-Signature", "key": "change me"},
    },
    "FILE": {
        "location": {"url": "sftp://partner.example/upload", "username": "", "password": ""},
        "syncMode": "iter",
        "everyMinutes": 1440,
        "gzip": True,
    },
}
_COMMON = {
    "destinationId",
    "pid",
    "name",
    "description",
    "destinationType",
    "status",
    "dataExportLabels",
    "createTime",
    "updateTime",
    "mappings",
}


def when(ms: int | None) -> str:
    """Epoch milliseconds as UTC time for a table cell ("" when not yet)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _settings_of(dest: Destination) -> dict[str, Any]:
    shown = service.destination_json(dest)
    return {k: v for k, v in shown.items() if k not in _COMMON}


def _data(dest: Destination | None, kind: str) -> dict[str, str]:
    if dest is None:
        return {
            "name": "",
            "description": "",
            "destinationType": kind,
            "status": "ACTIVE",
            "dataExportLabels": "",
            "settings": _forms.pretty(STARTERS[kind]),
        }
    shown = service.destination_json(dest)
    return {
        "name": dest.name,
        "description": dest.description,
        "destinationType": dest.destination_type,
        "status": dest.status,
        "dataExportLabels": ", ".join(shown["dataExportLabels"]),
        "settings": _forms.pretty(_settings_of(dest)),
    }


def _posted(ui: Ui) -> dict[str, str]:
    names = ("name", "description", "destinationType", "status", "dataExportLabels", "settings")
    return {n: ui.field(n) for n in names}


def _body(ui: Ui) -> DestinationIn:
    settings = _forms.json_field("settings", ui.field("settings") or "{}")
    if not isinstance(settings, dict):
        raise BadRequest.fields([("settings", "a JSON object of the destination's settings")])
    labels = [x.strip() for x in ui.field("dataExportLabels").split(",") if x.strip()]
    data = {
        **settings,
        "name": ui.field("name").strip(),
        "description": ui.field("description"),
        "destinationType": ui.field("destinationType"),
        "status": ui.field("status") or "ACTIVE",
        "dataExportLabels": labels,
    }
    return _forms.body(DestinationIn, data)


# -- list --------------------------------------------------------------------------------------


@router.get("/{tenant}/destinations", include_in_schema=False)
def destination_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows, total = service.list_destinations(s, ui.principal, ALL)
        ids = [d.id for d in rows]
        mapped = dict(
            s.execute(
                select(DestinationMapping.destination_id, func.count())
                .where(DestinationMapping.destination_id.in_(ids))
                .group_by(DestinationMapping.destination_id)
            ).all()
        )
        dead = dict(
            s.execute(
                select(S2SMessage.destination_id, func.count())
                .where(S2SMessage.destination_id.in_(ids), S2SMessage.state == DEAD)
                .group_by(S2SMessage.destination_id)
            ).all()
        )
        shown = [service.destination_json(d) for d in rows]
    return ui.render(
        "destinations/list.html", rows=shown, total=total, mapped=mapped, dead=dead, types=TYPES
    )


# -- editor ------------------------------------------------------------------------------------


def _form(
    ui: Ui,
    dest_id: int | None,
    data: dict[str, str],
    errors: list[str],
    status: int = 200,
    mapping_errors: list[str] | None = None,
    mapping_data: dict[str, str] | None = None,
) -> Response:
    assert ui.principal is not None
    mappings: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    segments: list[tuple[int, str]] = []
    with ui.session() as s:
        if dest_id is not None:
            dest = service.get_destination(s, ui.principal, str(dest_id))
            mappings = [service.mapping_json(m) for m in service.mappings_of(s, dest)]
            dead = [
                s2s.message_json(m) | {"created": when(m.created_ms)}
                for m in s2s.messages(s, dest.id, state=DEAD)
            ]
            found, _ = dmp.list_segments(s, ui.principal, ALL)
            segments = [(x.id, x.name) for x in found]
    names = dict(segments)
    return ui.render(
        "destinations/form.html",
        status=status,
        dest_id=dest_id,
        data=data,
        errors=errors,
        types=TYPES,
        mappings=[m | {"segmentName": names.get(m["sid"], "")} for m in mappings],
        dead=dead,
        segments=segments,
        mapping_errors=mapping_errors or [],
        mapping=mapping_data or {},
    )


@router.get("/{tenant}/destinations/new", include_in_schema=False)
def destination_new(ui: Ui = Depends(tenant_page)) -> Response:
    kind = ui.request.query_params.get("type", "PUSH")
    if kind not in TYPES:
        raise NotFound(f"no destination type {kind!r}")
    return _form(ui, None, _data(None, kind), [])


@router.post("/{tenant}/destinations", include_in_schema=False)
def destination_create(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    try:
        body = _body(ui)
        with ui.session() as s:
            created = service.create_destination(s, ui.principal, body, ui.now).id
    except (BadRequest, Conflict, NotFound) as exc:
        return _form(ui, None, _posted(ui), _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/destinations/{created}"))


def _load(ui: Ui, dest_id: int) -> Destination:
    assert ui.principal is not None
    with ui.session() as s:
        dest = service.get_destination(s, ui.principal, str(dest_id))
        s.expunge(dest)
    return dest


@router.get("/{tenant}/destinations/{dest_id}", include_in_schema=False)
def destination_edit(dest_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    dest = _load(ui, dest_id)
    return _form(ui, dest.id, _data(dest, dest.destination_type), [])


@router.post("/{tenant}/destinations/{dest_id}", include_in_schema=False)
def destination_update(dest_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    dest = _load(ui, dest_id)
    try:
        body = _body(ui)
        with ui.session() as s:
            service.update_destination(s, ui.principal, str(dest.id), body, ui.now)
    except (BadRequest, Conflict, NotFound) as exc:
        return _form(ui, dest.id, _posted(ui), _forms.messages(exc), exc.status)
    return ui.redirect(ui.url(f"/destinations/{dest.id}"))


@router.post("/{tenant}/destinations/{dest_id}/delete", include_in_schema=False)
def destination_delete(dest_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        service.delete_destination(s, ui.principal, str(dest_id))
    return ui.redirect(ui.url("/destinations"))


# -- mappings and dead letters -----------------------------------------------------------------

MAPPING_FIELDS = ("sid", "traitAlias", "valueAlias", "url", "secureUrl", "startDate", "endDate")


@router.post("/{tenant}/destinations/{dest_id}/mappings", include_in_schema=False)
def mapping_create(dest_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    dest = _load(ui, dest_id)
    posted = {n: ui.field(n).strip() for n in MAPPING_FIELDS}
    data: dict[str, Any] = {k: v for k, v in posted.items() if v}
    try:
        body = _forms.body(MappingIn, data)
        with ui.session() as s:
            service.create_mapping(s, ui.principal, str(dest.id), body, ui.now)
    except (BadRequest, Conflict, NotFound) as exc:
        return _form(
            ui,
            dest.id,
            _data(dest, dest.destination_type),
            [],
            exc.status,
            mapping_errors=_forms.messages(exc),
            mapping_data=posted,
        )
    return ui.redirect(ui.url(f"/destinations/{dest.id}#mappings"))


@router.post(
    "/{tenant}/destinations/{dest_id}/mappings/{mapping_id}/delete", include_in_schema=False
)
def mapping_delete(dest_id: int, mapping_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        service.delete_mapping(s, ui.principal, str(dest_id), mapping_id)
    return ui.redirect(ui.url(f"/destinations/{dest_id}#mappings"))


@router.post(
    "/{tenant}/destinations/{dest_id}/dead-letters/{message_id}/retry", include_in_schema=False
)
def dead_letter_retry(dest_id: int, message_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        dest = service.get_destination(s, ui.principal, str(dest_id))
        require_write(ui.principal)
        s2s.retry(s, dest.id, message_id if 0 < message_id <= MAX_ID else 0)
    return ui.redirect(ui.url(f"/destinations/{dest_id}#dead-letters"))

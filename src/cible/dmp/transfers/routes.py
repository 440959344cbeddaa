"""``/v1/destinations/``: destinations, their segment mappings, real-time dead letters, history.

Thin: parse, call ``cible.dmp.transfers.service`` or ``s2s``, render AAM's JSON (Adobe Audience
Manager REST API, "Destination API methods"). Routes are in docs/audience-manager.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.dmp._common import MAX_ID, envelope, require_write
from cible.dmp._datasources import get_data_source
from cible.dmp.api import AamCall, aam_call, json_body, json_response, list_query
from cible.dmp.transfers import export, receipts, s2s, service
from cible.dmp.transfers.schemas import DestinationIn, MappingIn
from cible.dmp.transfers.tables import DEAD
from cible.errors import BadRequest

destinations = APIRouter(prefix="/v1/destinations", tags=["audience manager"])
FILTERS = ("destinationType", "containsSegment")


@destinations.get("/", summary="List destinations", **list_query(*FILTERS, "includeMappings"))
def list_destinations(call: AamCall = Depends(aam_call)) -> Response:
    q = call.query(FILTERS)
    with call.db.session() as s:
        rows, total = service.list_destinations(s, call.principal, q)
        mappings = call.flag("includeMappings")
        items = [
            service.destination_json(d, service.mappings_of(s, d) if mappings else None)
            for d in rows
        ]
        return json_response(envelope(items, total, q))


@destinations.post("/", status_code=201, summary="Create a destination", **json_body(DestinationIn))
def create_destination(call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(DestinationIn)
    with call.db.session() as s:
        dest = service.create_destination(s, call.principal, body, call.now)
        return json_response(service.destination_json(dest), 201)


@destinations.get("/{ref}", summary="Get a destination", **list_query("includeMappings"))
def read_destination(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        dest = service.get_destination(s, call.principal, ref)
        mappings = service.mappings_of(s, dest) if call.flag("includeMappings") else None
        return json_response(service.destination_json(dest, mappings))


@destinations.put("/{ref}", summary="Replace a destination", **json_body(DestinationIn))
def update_destination(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(DestinationIn)
    with call.db.session() as s:
        dest = service.update_destination(s, call.principal, ref, body, call.now)
        return json_response(service.destination_json(dest))


@destinations.delete("/{ref}", status_code=204, summary="Delete a destination and its mappings")
def delete_destination(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        service.delete_destination(s, call.principal, ref)
    return Response(status_code=204)


@destinations.get("/{ref}/mappings/", summary="List a destination's segment mappings")
def list_mappings(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        dest = service.get_destination(s, call.principal, ref)
        return json_response([service.mapping_json(m) for m in service.mappings_of(s, dest)])


@destinations.post(
    "/{ref}/mappings/",
    status_code=201,
    summary="Map a segment to a destination",
    **json_body(MappingIn),
)
def create_mapping(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(MappingIn)
    with call.db.session() as s:
        mapping = service.create_mapping(s, call.principal, ref, body, call.now)
        return json_response(service.mapping_json(mapping), 201)


@destinations.get("/{ref}/mappings/{mapping_id}", summary="Get a segment mapping")
def read_mapping(ref: str, mapping_id: int, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        return json_response(
            service.mapping_json(service.get_mapping(s, call.principal, ref, mapping_id))
        )


@destinations.delete(
    "/{ref}/mappings/{mapping_id}", status_code=204, summary="Delete a segment mapping"
)
def delete_mapping(ref: str, mapping_id: int, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        service.delete_mapping(s, call.principal, ref, mapping_id)
    return Response(status_code=204)


# -- real-time messages: dead letters and history ------------------------------------------------


def _ms(call: AamCall, name: str) -> int | None:
    raw = call.request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
        raise BadRequest.fields([(name, "epoch milliseconds")])
    return int(raw)


@destinations.get("/{ref}/dead-letters/", summary="List a real-time destination's dead letters")
def list_dead_letters(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        dest = service.get_destination(s, call.principal, ref)
        return json_response([s2s.message_json(m) for m in s2s.messages(s, dest.id, state=DEAD)])


@destinations.post(
    "/{ref}/dead-letters/{message_id}/retry",
    summary="Send a dead letter again",
    status_code=202,
)
def retry_dead_letter(ref: str, message_id: int, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        dest = service.get_destination(s, call.principal, ref)
        require_write(call.principal)
        message = s2s.retry(s, dest.id, message_id if 0 < message_id <= MAX_ID else 0)
        return json_response(s2s.message_json(message), 202)


@destinations.get(
    "/{ref}/history/outbound",
    summary="A destination's outbound transfers",
    **list_query("startDate", "endDate"),
)
def outbound_history(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    start, end = _ms(call, "startDate"), _ms(call, "endDate")
    with call.db.session() as s:
        dest = service.get_destination(s, call.principal, ref)
        found = s2s.messages(s, dest.id, start_ms=start, end_ms=end)
        files = export.runs(s, dest.id, start, end)
        return json_response(
            [s2s.message_json(m) for m in found] + [export.run_json(r) for r in files]
        )


# -- inbound files: receipts ---------------------------------------------------------------------

datasources = APIRouter(prefix="/v1/datasources", tags=["audience manager"])


@datasources.get(
    "/{ref}/history/inbound",
    summary="A data source's inbound file receipts",
    **list_query("dataFileName", "includeSamplingDetails", "startDate", "endDate"),
)
def inbound_history(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    start, end = _ms(call, "startDate"), _ms(call, "endDate")
    name = call.request.query_params.get("dataFileName") or None
    with call.db.session() as s:
        ds = get_data_source(s, call.principal, ref)
        found = receipts.history(s, ds.id, name=name, start_ms=start, end_ms=end)
    if not call.flag("includeSamplingDetails"):
        found = [{k: v for k, v in r.items() if k != "samples"} for r in found]
    return json_response(found)


# What cible.dmp.routes includes: both prefixes.
router = APIRouter()
router.include_router(destinations)
router.include_router(datasources)

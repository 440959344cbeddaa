"""The audience manager's REST API under ``/v1`` (AAM's paths), and the DCS endpoints.

Thin: parse, call ``cible.dmp.service``, render AAM's JSON. Lists answer AAM's envelope
``{total, page, pageSize, list}``. Routes are in docs/audience-manager.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.dmp import service
from cible.dmp.api import AamCall, aam_call, json_body, json_response, list_query
from cible.dmp.dcs_routes import router as dcs_router
from cible.dmp.schemas import ID_TYPES, DataSourceIn, FolderIn, SegmentIn, TraitIn, ValidateIn
from cible.dmp.tables import Trait
from cible.dmp.transfers.routes import router as transfers_router

router = APIRouter(tags=["audience manager"])
v1 = APIRouter(prefix="/v1", tags=["audience manager"])

TRAIT_FILTERS = ("folderId", "dataSourceId", "integrationCode", "search")
SEGMENT_FILTERS = (
    "folderId",
    "dataSourceId",
    "integrationCode",
    "mergeRuleDataSourceId",
    "status",
    "containsTrait",
)
DS_FILTERS = ("integrationCode", "inboundOnly", "outboundOnly")


# -- data sources ------------------------------------------------------------------------------


@v1.get("/datasources/", summary="List data sources", **list_query(*DS_FILTERS))
def list_data_sources(call: AamCall = Depends(aam_call)) -> Response:
    q = call.query(DS_FILTERS)
    with call.db.session() as s:
        rows, total = service.list_data_sources(s, call.principal, q)
        return json_response(
            service.envelope([service.data_source_json(r) for r in rows], total, q)
        )


@v1.post(
    "/datasources/", status_code=201, summary="Create a data source", **json_body(DataSourceIn)
)
def create_data_source(call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(DataSourceIn)
    with call.db.session() as s:
        ds = service.create_data_source(s, call.principal, body, call.now)
        return json_response(service.data_source_json(ds), 201)


@v1.get("/datasources/configurations/available-id-types", summary="List the data source ID types")
def id_types(call: AamCall = Depends(aam_call)) -> Response:
    return json_response(list(ID_TYPES))


@v1.get("/datasources/{ref}", summary="Get a data source")
def read_data_source(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        return json_response(
            service.data_source_json(service.get_data_source(s, call.principal, ref))
        )


@v1.put("/datasources/{ref}", summary="Replace a data source", **json_body(DataSourceIn))
def update_data_source(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(DataSourceIn)
    with call.db.session() as s:
        ds = service.update_data_source(s, call.principal, ref, body, call.now)
        return json_response(service.data_source_json(ds))


@v1.delete("/datasources/{ref}", status_code=204, summary="Delete a data source")
def delete_data_source(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        service.delete_data_source(s, call.principal, ref)
    return Response(status_code=204)


# -- folders -----------------------------------------------------------------------------------


def _folder_routes(kind: str) -> None:
    base = f"/folders/{kind}/"

    @v1.get(base, summary=f"List the {kind[:-1]} folder tree", name=f"list_{kind}_folders")
    def list_folders(call: AamCall = Depends(aam_call)) -> Response:
        with call.db.session() as s:
            return json_response(service.folder_tree(s, call.principal, kind))

    @v1.post(
        base,
        status_code=201,
        summary=f"Create a {kind[:-1]} folder",
        name=f"create_{kind}_folder",
        **json_body(FolderIn),
    )
    def create_folder(call: AamCall = Depends(aam_call)) -> Response:
        body = call.body(FolderIn)
        with call.db.session() as s:
            folder = service.create_folder(s, call.principal, kind, body, call.now)
            s.flush()
            return json_response(service.folder_tree(s, call.principal, kind, folder.id)[0], 201)

    @v1.get(
        base + "{folder_id}",
        summary=f"Get a {kind[:-1]} folder and its subfolders",
        name=f"read_{kind}_folder",
    )
    def read_folder(folder_id: int, call: AamCall = Depends(aam_call)) -> Response:
        with call.db.session() as s:
            return json_response(service.folder_tree(s, call.principal, kind, folder_id)[0])

    @v1.put(
        base + "{folder_id}",
        summary=f"Rename or move a {kind[:-1]} folder",
        name=f"update_{kind}_folder",
        **json_body(FolderIn),
    )
    def update_folder(folder_id: int, call: AamCall = Depends(aam_call)) -> Response:
        body = call.body(FolderIn)
        with call.db.session() as s:
            service.update_folder(s, call.principal, kind, folder_id, body)
            s.flush()
            return json_response(service.folder_tree(s, call.principal, kind, folder_id)[0])

    @v1.delete(
        base + "{folder_id}",
        status_code=204,
        summary=f"Delete an empty {kind[:-1]} folder",
        name=f"delete_{kind}_folder",
    )
    def delete_folder(folder_id: int, call: AamCall = Depends(aam_call)) -> Response:
        with call.db.session() as s:
            service.delete_folder(s, call.principal, kind, folder_id)
        return Response(status_code=204)


for _kind in service.KINDS:
    _folder_routes(_kind)


# -- traits ------------------------------------------------------------------------------------


def _trait_out(call: AamCall, s: Any, trait: Trait) -> dict[str, Any]:
    metrics = None
    if call.flag("includeMetrics"):
        metrics = service.populations(s, trait.tenant_id, "trait", [trait.id])[trait.id]
    return service.trait_json(trait, metrics=metrics)


@v1.get(
    "/traits/",
    summary="List traits",
    **list_query(*TRAIT_FILTERS, "includeDetails", "includeMetrics"),
)
def list_traits(call: AamCall = Depends(aam_call)) -> Response:
    q = call.query(TRAIT_FILTERS)
    details = call.flag("includeDetails")
    with call.db.session() as s:
        rows, total = service.list_traits(s, call.principal, q)
        metrics = (
            service.populations(s, call.principal.tenant_id, "trait", [t.id for t in rows])
            if call.flag("includeMetrics")
            else {}
        )
        items = [service.trait_json(t, details=details, metrics=metrics.get(t.id)) for t in rows]
        return json_response(service.envelope(items, total, q))


@v1.post("/traits/", status_code=201, summary="Create a trait", **json_body(TraitIn))
def create_trait(call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(TraitIn)
    with call.db.session() as s:
        trait = service.create_trait(s, call.principal, body, call.now)
        return json_response(service.trait_json(trait), 201)


@v1.post("/traits/validate", summary="Validate a trait rule", **json_body(ValidateIn))
def validate_trait(call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(ValidateIn)
    keys = service.validate_trait_rule(body.code, "code")
    return json_response({"valid": True, "keys": keys})


@v1.post(
    "/traits/bulk-delete", status_code=204, summary="Delete several traits", **json_body(ids=True)
)
def bulk_delete_traits(call: AamCall = Depends(aam_call)) -> Response:
    ids = call.id_list()
    with call.db.session() as s:
        service.delete_traits(s, call.principal, ids)
    return Response(status_code=204)


@v1.get("/traits/limits", summary="Trait limits")
def trait_limits(call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        _, total = service.list_traits(s, call.principal, service.ListQuery(0, 1, {}))
    return json_response({"maxAllowedTraits": service.MAX_TRAITS, "currentTraitCount": total})


@v1.get("/traits/{ref}", summary="Get a trait (by sid or ic:<integration code>)")
def read_trait(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        return json_response(_trait_out(call, s, service.get_trait(s, call.principal, ref)))


@v1.put("/traits/{ref}", summary="Replace a trait", **json_body(TraitIn))
def update_trait(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(TraitIn)
    with call.db.session() as s:
        trait = service.update_trait(s, call.principal, ref, body, call.now)
        return json_response(service.trait_json(trait))


@v1.delete("/traits/{ref}", status_code=204, summary="Delete a trait")
def delete_trait(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        service.delete_traits(s, call.principal, [ref])
    return Response(status_code=204)


@v1.get("/traits/{ref}/trait-rule/versions", summary="A trait's rule versions")
def trait_rule_versions(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        return json_response(service.rule_versions(s, call.principal, ref))


# -- segments ----------------------------------------------------------------------------------


@v1.get("/segments/", summary="List segments", **list_query(*SEGMENT_FILTERS, "includeMetrics"))
def list_segments(call: AamCall = Depends(aam_call)) -> Response:
    q = call.query(SEGMENT_FILTERS)
    with call.db.session() as s:
        rows, total = service.list_segments(s, call.principal, q)
        metrics = (
            service.populations(s, call.principal.tenant_id, "segment", [r.id for r in rows])
            if call.flag("includeMetrics")
            else {}
        )
        items = [service.segment_json(r, metrics.get(r.id)) for r in rows]
        return json_response(service.envelope(items, total, q))


@v1.post("/segments/", status_code=201, summary="Create a segment", **json_body(SegmentIn))
def create_segment(call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(SegmentIn)
    with call.db.session() as s:
        segment = service.create_segment(s, call.principal, body, call.now)
        return json_response(service.segment_json(segment), 201)


@v1.post(
    "/segments/bulk-delete",
    status_code=204,
    summary="Delete several segments",
    **json_body(ids=True),
)
def bulk_delete_segments(call: AamCall = Depends(aam_call)) -> Response:
    ids = call.id_list()
    with call.db.session() as s:
        service.delete_segments(s, call.principal, ids, call.now)
    return Response(status_code=204)


@v1.get("/segments/limits", summary="Segment limits")
def segment_limits(call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        _, total = service.list_segments(s, call.principal, service.ListQuery(0, 1, {}))
    return json_response({"maxAllowedSegments": service.MAX_SEGMENTS, "currentSegmentCount": total})


@v1.get("/segments/{ref}", summary="Get a segment (by sid or ic:<integration code>)")
def read_segment(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        segment = service.get_segment(s, call.principal, ref)
        metrics = None
        if call.flag("includeMetrics"):
            metrics = service.populations(s, segment.tenant_id, "segment", [segment.id])[segment.id]
        return json_response(service.segment_json(segment, metrics))


@v1.put("/segments/{ref}", summary="Replace a segment", **json_body(SegmentIn))
def update_segment(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    body = call.body(SegmentIn)
    with call.db.session() as s:
        segment = service.update_segment(s, call.principal, ref, body, call.now)
        return json_response(service.segment_json(segment))


@v1.delete("/segments/{ref}", status_code=204, summary="Delete a segment")
def delete_segment(ref: str, call: AamCall = Depends(aam_call)) -> Response:
    with call.db.session() as s:
        service.delete_segments(s, call.principal, [ref], call.now)
    return Response(status_code=204)


router.include_router(v1)
router.include_router(transfers_router)
router.include_router(dcs_router)

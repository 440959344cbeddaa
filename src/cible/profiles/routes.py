"""Adobe's Profile APIs: fetch a profile, update one, bulk update, batch status.

- ``GET /rest/v1/profiles/{tntId}?client=``, ``/thirdPartyId/{id}``,
  ``/marketingCloudVisitorId/{id}``: Adobe's profile JSON; 404 ``{"status", "message"}``.
- ``GET|POST /m2/{client}/profile/update?mboxPC=|mbox3rdPartyId=&profile.<name>=``: updates an
  existing profile (Adobe: "If nothing is found, a profile is not created"), synchronously, so
  the update is durable when the response says so; XML answer as Adobe's.
- ``POST /m2/{client}/profile/batchUpdate`` (v1) and ``/m2/{client}/v2/profile/batchUpdate``
  (v2, creates unknown visitors): the raw body is the batch file; XML answer with a status URL.
- ``GET /m2/{client}/profile/batchStatus?batchId=[&showDetails=true]``: XML status, with
  counts and one ``<row>`` per processed line when ``showDetails=true``.

Every route answers 401 when the tenant requires Profile API authentication and the request has
no valid ``profile_api`` bearer token (``cible.profiles.auth``).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import orjson
from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cible.delivery.routes import error_response, runtime
from cible.delivery.service import TenantRef
from cible.profiles import auth, service
from cible.profiles import batch as batches
from cible.profiles.tables import ProfileBatch, ProfileBatchRow
from cible.store import Database

router = APIRouter(tags=["profiles"])

MAX_ATTEMPTS = 20  # compare-and-set retries of one update when others write the same profile
MAX_UPDATE_BYTES = 60 * 1024  # Adobe: 8 KB (GET) / 60 KB (POST) per single profile update
_KINDS = {"thirdPartyId": ("3p", "third party id"), "marketingCloudVisitorId": ("mcid", "ecid")}


def _xml(http_status: int, /, **fields: Any) -> Response:
    body = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items() if v is not None)
    return Response(
        f"<response>{body}</response>", status_code=http_status, media_type="application/xml"
    )


def _tenant(request: Request, client: str) -> TenantRef | None:
    _, directory = runtime(request)
    return directory.find(client, None)


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _refusal(request: Request, tenant: TenantRef) -> str | None:
    with request.app.state.db.session() as session:
        return auth.refusal(
            session,
            tenant.id,
            request.headers.get("authorization"),
            key=request.app.state.settings.secret_key,
            now=_now(request),
        )


def _fetch(db: Database, tenant: TenantRef, kind: str, value: str) -> dict[str, Any] | None:
    with db.session() as session:
        profile = service.find_profile(session, tenant.id, kind, value)
        if profile is None:
            return None
        return service.profile_document(tenant.client_code, value, profile)


async def _get_profile(request: Request, kind: str, value: str, label: str) -> Response:
    client = request.query_params.get("client")
    if not client:
        return error_response(400, "client: is required")
    tenant = await run_in_threadpool(_tenant, request, client)
    if tenant is None:
        return error_response(400, f"Unknown client {client}")
    if refused := await run_in_threadpool(_refusal, request, tenant):
        return error_response(401, refused)
    document = await run_in_threadpool(_fetch, request.app.state.db, tenant, kind, value)
    if document is None:
        message = f"No profile found for client {tenant.client_code} with {label}={value}"
        return error_response(404, message)
    return Response(orjson.dumps(document), media_type="application/json")


@router.get("/rest/v1/profiles/{kind}/{value}", summary="Fetch a profile by another id")
async def get_profile_by(request: Request, kind: str, value: str) -> Response:
    if kind not in _KINDS:
        return error_response(404, f"Unknown profile id type {kind}")
    code, label = _KINDS[kind]
    return await _get_profile(request, code, value, label)


@router.get("/rest/v1/profiles/{tnt_id}", summary="Fetch a profile by tntId (mboxPC)")
async def get_profile(request: Request, tnt_id: str) -> Response:
    return await _get_profile(request, "tnt", tnt_id, "mboxPC")


def _update(
    db: Database, tenant: TenantRef, params: list[tuple[str, str]], now: datetime
) -> Response:
    values = dict(params)
    pc_id, third_party = values.get("mboxPC"), values.get("mbox3rdPartyId")
    updates = {k.removeprefix("profile."): v for k, v in params if k.startswith("profile.")}
    if not pc_id and not third_party:
        return _xml(400, success="false", message="mboxPC or mbox3rdPartyId is required")
    if third_party and ("+" in third_party or "/" in third_party or len(third_party) > 256):
        return _xml(400, success="false", message="invalid mbox3rdPartyId")
    if not updates:
        return _xml(400, success="false", message="no profile.<name> parameter")
    kind, value = ("3p", third_party) if third_party else ("tnt", pc_id)
    assert value is not None
    for _attempt in range(MAX_ATTEMPTS):
        try:
            with db.session() as session:
                profile = service.find_profile(session, tenant.id, kind, value)
                if profile is None:
                    message = "No profile found; profiles are not created"
                    return _xml(404, success="false", message=message)
                try:
                    service.set_profile_attributes(session, profile, updates, now)
                except service.ProfileTooLarge as error:
                    return _xml(400, success="false", message=str(error))
                pc_id_stored = profile.tnt_id
        except (StaleDataError, OperationalError):
            # Another write to this profile (or a SQLite writer) got there first: read again.
            time.sleep(random.uniform(0.001, 0.005) * (_attempt + 1))
            continue
        return _xml(
            200, success="true", pcId=pc_id_stored, message="Request successfully submitted"
        )
    return _xml(503, success="false", message="the profile is being changed by too many requests")


@router.get("/m2/{client}/profile/update", summary="Update one profile (query parameters)")
async def update_profile(request: Request, client: str) -> Response:
    return await _update_profile(request, client, list(request.query_params.multi_items()))


@router.post("/m2/{client}/profile/update", summary="Update one profile (query or form body)")
async def update_profile_post(request: Request, client: str) -> Response:
    params = list(request.query_params.multi_items())
    body = await request.body()
    if len(body) > MAX_UPDATE_BYTES:
        return _xml(413, success="false", message="update larger than 60 KB")
    try:
        params += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return _xml(400, success="false", message="the body is not UTF-8")
    return await _update_profile(request, client, params)


async def _update_profile(request: Request, client: str, params: list[tuple[str, str]]) -> Response:
    tenant = await run_in_threadpool(_tenant, request, client)
    if tenant is None:
        return _xml(400, success="false", message=f"Unknown client {client}")
    if refused := await run_in_threadpool(_refusal, request, tenant):
        return _xml(401, success="false", message=refused)
    return await run_in_threadpool(_update, request.app.state.db, tenant, params, _now(request))


def _accept(db: Database, tenant: TenantRef, body: bytes, version: int) -> str:
    with db.session() as session:
        return batches.accept_batch(session, tenant.id, tenant.client_code, body, version).id


async def _batch_update(request: Request, client: str, version: int) -> Response:
    tenant = await run_in_threadpool(_tenant, request, client)
    if tenant is None:
        return _xml(400, success="false", batchStatus="", message=f"Unknown client {client}")
    if refused := await run_in_threadpool(_refusal, request, tenant):
        return _xml(401, success="false", batchStatus="", message=refused)
    body = await request.body()
    try:
        batch_id = await run_in_threadpool(_accept, request.app.state.db, tenant, body, version)
    except batches.BatchError as error:
        return _xml(400, success="false", batchStatus="", message=str(error))
    url = request.url_for("batch_status", client=client).include_query_params(batchId=batch_id)
    return _xml(200, success="true", batchStatus=str(url), message="Batch submitted for processing")


@router.post("/m2/{client}/profile/batchUpdate", summary="Bulk profile update v1")
async def batch_update_v1(request: Request, client: str) -> Response:
    return await _batch_update(request, client, 1)


@router.post("/m2/{client}/v2/profile/batchUpdate", summary="Bulk profile update v2")
async def batch_update_v2(request: Request, client: str) -> Response:
    return await _batch_update(request, client, 2)


def _status(db: Database, tenant: TenantRef, batch_id: str, details: bool) -> Response:
    with db.session() as session:
        batch = session.get(ProfileBatch, batch_id)
        if batch is None or batch.tenant_id != tenant.id:
            return _xml(404, batchId=batch_id, status="unknown", message="No such batch")
        fields: dict[str, Any] = {
            "batchId": batch.id,
            "status": batch.state,
            "batchSize": batch.size,
        }
        if not details:
            return _xml(200, **fields)
        fields.update(
            consumedCount=batch.consumed,
            successfulUpdates=batch.successful,
            profilesNotFound=batch.not_found,
            failedUpdates=batch.failed,
        )
        rows = session.scalars(
            select(ProfileBatchRow)
            .where(ProfileBatchRow.batch_id == batch_id)
            .order_by(ProfileBatchRow.line)
        )
        head = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items())
        parts = [
            f"<row><line>{row.line}</line><id>{escape(row.visitor)}</id>"
            f"<status>{row.status}</status>"
            + (f"<message>{escape(row.message)}</message>" if row.message else "")
            + "</row>"
            for row in rows
        ]
        body = f"<response>{head}<rows>{''.join(parts)}</rows></response>"
        return Response(body, media_type="application/xml")


@router.get("/m2/{client}/profile/batchStatus", name="batch_status", summary="Batch status")
async def batch_status(request: Request, client: str) -> Response:
    tenant = await run_in_threadpool(_tenant, request, client)
    if tenant is None:
        return _xml(400, status="unknown", message=f"Unknown client {client}")
    if refused := await run_in_threadpool(_refusal, request, tenant):
        return _xml(401, status="unknown", message=refused)
    batch_id = request.query_params.get("batchId")
    if not batch_id:
        return _xml(400, status="unknown", message="batchId is required")
    details = request.query_params.get("showDetails", "").lower() == "true"
    return await run_in_threadpool(_status, request.app.state.db, tenant, batch_id, details)

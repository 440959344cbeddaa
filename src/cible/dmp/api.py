"""What every ``/v1`` route gets: the caller's tenant, credentials, throttling, body and paging.

AAM's REST API has no tenant in its paths: the tenant is the API client's (Adobe Audience
Manager REST API, "Getting started"). A client holding roles on several tenants names one with
``x-gw-ims-org-id`` (Adobe's gateway header: the tenant's organization id, or its client code);
a client on one tenant need not. Credentials are the Admin API's (bearer token and
``X-Api-Key``, ``cible.web.admin.authenticate``); errors use Adobe's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import or_, select
from starlette.responses import Response

from cible.config import Settings
from cible.dmp.service import ListQuery
from cible.errors import BadRequest, TooManyRequests, Unauthorized
from cible.store import Database
from cible.tenants.principal import Principal
from cible.tenants.tables import ApiClient, Tenant
from cible.web.admin import authenticate, read_body
from cible.web.envelope import validation_problems
from cible.web.throttle import TokenBucketThrottle

M = TypeVar("M", bound=BaseModel)
MAX_PAGE = 1_000_000  # page and pageSize above it are refused (offsets stay in range)
ORG_HEADER = "x-gw-ims-org-id"


@dataclass
class AamCall:
    principal: Principal
    db: Database
    settings: Settings
    now: datetime
    request: Request
    raw: bytes

    def body(self, model: type[M]) -> M:
        if not self.raw.strip():
            raise BadRequest.fields([("body", "a JSON body is required")])
        try:
            data = orjson.loads(self.raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest.fields([("body", f"JSON is malformed ({exc.msg})")]) from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise BadRequest.fields(validation_problems(list(exc.errors()))) from None

    def id_list(self) -> list[str]:
        """A bulk-delete body: a JSON array of ids."""
        if not self.raw.strip():
            raise BadRequest.fields([("body", "a JSON array of ids is required")])
        try:
            data = orjson.loads(self.raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest.fields([("body", f"JSON is malformed ({exc.msg})")]) from None
        if not isinstance(data, list) or not data:
            raise BadRequest.fields([("body", "must be a non-empty JSON array of ids")])
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in data):
            raise BadRequest.fields([("body", "every id must be an integer")])
        return [str(i) for i in dict.fromkeys(data)]

    def query(self, filters: tuple[str, ...]) -> ListQuery:
        params = self.request.query_params
        problems = []
        values = {}
        for name, default in (("page", 0), ("pageSize", self.settings.default_page_size)):
            raw = params.get(name)
            if raw in (None, ""):
                values[name] = default
            elif not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_PAGE:
                problems.append((name, f"must be an integer between 0 and {MAX_PAGE}"))
            else:
                values[name] = int(raw)
        if "pageSize" in values and values["pageSize"] == 0:
            problems.append(("pageSize", "must be at least 1"))
        if problems:
            raise BadRequest.fields(problems)
        size = min(values["pageSize"], self.settings.max_page_size)
        chosen = {f: params[f] for f in filters if params.get(f) not in (None, "")}
        return ListQuery(values["page"], size, chosen)

    def flag(self, name: str) -> bool:
        return self.request.query_params.get(name, "").lower() == "true"


def _tenant_code(request: Request, db: Database) -> str:
    api_key = request.headers.get("x-api-key", "")
    wanted = request.headers.get(ORG_HEADER, "").strip()
    with db.session() as session:
        if wanted:
            code = session.scalar(
                select(Tenant.client_code).where(
                    or_(Tenant.organization_id == wanted, Tenant.client_code == wanted)
                )
            )
            if code is None:
                raise Unauthorized(f"{ORG_HEADER} names no tenant: {wanted!r}")
            return code
        client = session.scalar(select(ApiClient).where(ApiClient.client_id == api_key))
        tenant_ids = sorted({role.tenant_id for role in client.roles}) if client else []
        if not tenant_ids:
            # authenticate() reports the missing or invalid credential.
            return ""
        if len(tenant_ids) > 1:
            raise BadRequest.fields(
                [(ORG_HEADER, "this API client acts on several tenants; name one in this header")]
            )
        code = session.scalar(select(Tenant.client_code).where(Tenant.id == tenant_ids[0]))
        return code or ""


def aam_call(request: Request, raw: bytes = Depends(read_body)) -> AamCall:
    """The dependency of every ``/v1`` route."""
    state = request.app.state
    code = _tenant_code(request, state.db)
    principal = authenticate(request, code)
    wait = state.throttle.take(principal.client_id)
    if wait > 0:
        raise TooManyRequests(
            f"API client {principal.client_id} exceeded its request rate",
            retry_after=TokenBucketThrottle.retry_after(wait),
        )
    return AamCall(principal, state.db, state.settings, state.clock(), request, raw)


def json_response(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def json_body(model: type[BaseModel] | None = None, *, ids: bool = False) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body: ``model``'s schema, or an array of ids."""
    schema: dict[str, Any] = (
        {"type": "array", "items": {"type": "integer"}, "minItems": 1}
        if ids
        else (model or BaseModel).model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    )
    return {
        "openapi_extra": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        }
    }


def list_query(*names: str) -> dict[str, Any]:
    """``openapi_extra`` documenting AAM's list parameters and ``names`` as query strings."""
    params = [
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    ]
    params += [{"name": n, "in": "query", "schema": {"type": "string"}} for n in names]
    return {"openapi_extra": {"parameters": params}}

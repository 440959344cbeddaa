"""What every Admin API route gets for free: credentials, throttling, versioning and its body.

A route declares the versions it serves and, per version, the pydantic model of its body::

    @router.post("/offers/content", **admin_openapi(V1_V2, body=OfferIn, status=201))
    def create(call: AdminCall = Depends(admin(V1_V2, body=OfferIn))) -> Response:
        ...

The dependency authenticates (401/403/404), throttles (429), negotiates the version (406/415)
and validates the body against that version's model (400, one error per field). A body that
fits another version's model but not the requested one is a 406: a v2 body sent as v1 is refused,
never misread (Adobe Admin API overview, "Versioning").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from cible.config import Settings
from cible.errors import BadRequest, NotFound, TooManyRequests, Unauthorized, UnsupportedFeature
from cible.store import Database
from cible.tenants import service as tenants
from cible.tenants.principal import Principal
from cible.web.envelope import validation_problems
from cible.web.paging import Page, parse_page
from cible.web.throttle import PREPAID_SCOPE_KEY, TokenBucketThrottle
from cible.web.versioning import BODY_METHODS, VersionedJSON, media_type, negotiate

BodyModels = type[BaseModel] | Mapping[int, type[BaseModel]]


@dataclass
class AdminCall:
    """One authenticated Admin API call: who, which version, what body, and where to store."""

    principal: Principal
    version: int
    body: Any
    db: Database
    settings: Settings
    now: datetime
    request: Request

    def render(self, content: Any, status: int = 200) -> VersionedJSON:
        return VersionedJSON(content, version=self.version, status_code=status)

    def page(self, sortable: Mapping[str, object], default_sort: str = "id") -> Page:
        """The request's ``offset``, ``limit`` and ``sortBy``, within the configured sizes."""
        return parse_page(
            self.request.query_params,
            sortable=sortable,
            default_limit=self.settings.default_page_size,
            max_limit=self.settings.max_page_size,
            default_sort=default_sort,
        )


async def read_body(request: Request) -> bytes:
    return await request.body()


def _models_for(versions: frozenset[int], body: BodyModels | None) -> dict[int, type[BaseModel]]:
    if body is None:
        return {}
    if isinstance(body, Mapping):
        return dict(body)
    return dict.fromkeys(versions, body)


def admin(versions: Iterable[int], body: BodyModels | None = None) -> Callable[..., AdminCall]:
    """The dependency of an Admin API route serving ``versions`` with an optional body."""
    supported = frozenset(versions)
    models = _models_for(supported, body)

    def dependency(request: Request, tenant: str, raw: bytes = Depends(read_body)) -> AdminCall:
        app_state = request.app.state
        principal = authenticate(request, tenant)
        check_path_ids(request.path_params)
        prepaid = request.scope.get(PREPAID_SCOPE_KEY) == principal.client_id
        wait = 0.0 if prepaid else app_state.throttle.take(principal.client_id)
        if wait > 0:
            raise TooManyRequests(
                f"API client {principal.client_id} exceeded its request rate",
                retry_after=TokenBucketThrottle.retry_after(wait),
            )
        version = negotiate(
            request.method,
            request.headers.get("content-type"),
            request.headers.get("accept"),
            supported,
        )
        parsed = None
        if models and request.method in BODY_METHODS:
            parsed = parse_body(raw, version, models)
        return AdminCall(
            principal=principal,
            version=version,
            body=parsed,
            db=app_state.db,
            settings=app_state.settings,
            now=app_state.clock(),
            request=request,
        )

    return dependency


# Ids are 64-bit signed integers in every database Cible supports; a larger one names nothing
# (and SQLite's driver would raise OverflowError on it).
ID_RANGE = range(-(2**63), 2**63)


def check_path_ids(path_params: Mapping[str, Any]) -> None:
    """404 for a numeric ``{..._id}`` path parameter no stored object can have."""
    for name, value in path_params.items():
        if not name.endswith("_id"):
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue  # not a number: the route's own validation answers 400
        if number not in ID_RANGE:
            raise NotFound(f"{name.removesuffix('_id')} {value} does not exist")


def authenticate(request: Request, tenant: str) -> Principal:
    """The principal behind the request's ``Authorization`` and ``X-Api-Key`` headers."""
    state = request.app.state
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token in the Authorization header")
    api_key = request.headers.get("x-api-key")
    if not api_key:
        raise Unauthorized("missing X-Api-Key header")
    with state.db.session() as session:
        return tenants.authenticate(
            session,
            token=token.strip(),
            api_key=api_key,
            tenant_code=tenant,
            key=state.settings.secret_key,
            now=state.clock(),
        )


def parse_body(raw: bytes, version: int, models: Mapping[int, type[BaseModel]]) -> BaseModel:
    """The body validated against ``version``'s model (see the module docstring)."""
    if not raw.strip():
        raise BadRequest.fields([("body", "a JSON body is required")])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest.fields([("body", f"JSON is malformed ({exc.msg})")]) from None
    model = models.get(version)
    if model is None:
        raise UnsupportedFeature()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for other_version, other in models.items():
            if other_version != version and other is not model and _fits(other, data):
                raise UnsupportedFeature(
                    f"Unsupported features detected: the body is a v{other_version} body, "
                    f"send it with Content-Type {media_type(other_version)}"
                ) from None
        raise BadRequest.fields(validation_problems(list(exc.errors()))) from None


def _fits(model: type[BaseModel], data: Any) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def admin_openapi(
    versions: Iterable[int],
    *,
    body: BodyModels | None = None,
    status: int = 200,
    summary: str | None = None,
    optional_body: bool = False,
) -> dict[str, Any]:
    """Route keyword arguments documenting the vendor media types in the OpenAPI document.

    ``optional_body`` documents an ignored JSON object body for a POST that takes none: Adobe's
    clients send ``{}`` with such calls."""
    supported = sorted(set(versions))
    models = _models_for(frozenset(supported), body)
    extra: dict[str, Any] = {
        "responses": {
            str(status): {
                "description": "Success",
                "content": {media_type(v): {} for v in supported},
            }
        },
        "x-cible-versions": supported,
    }
    if models:
        extra["requestBody"] = {
            "required": True,
            "content": {
                media_type(v): {
                    "schema": models[v].model_json_schema(ref_template="#/$defs/{model}")
                }
                for v in supported
                if v in models
            },
        }
    elif optional_body:
        extra["requestBody"] = {
            "required": False,
            "content": {media_type(v): {"schema": {"type": "object"}} for v in supported},
        }
    kwargs: dict[str, Any] = {"openapi_extra": extra, "status_code": status}
    if summary:
        kwargs["summary"] = summary
    return kwargs

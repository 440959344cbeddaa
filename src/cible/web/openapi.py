"""The OpenAPI document at ``/openapi.json``, complete enough for generated clients and fuzzers.

FastAPI's document is built from the routes; three things it cannot know are added here, once,
for every route, so a new domain gets them without thinking about it:

- Schemas a route documents by hand (``model_json_schema()`` in ``openapi_extra``) keep their
  nested models under ``$defs``, whose ``#/$defs/...`` references do not resolve inside an OpenAPI
  document; they are moved to ``components/schemas`` and the references rewritten.
- The error statuses every route can answer (credentials, throttling, validation, versions), with
  the body each family of API uses: Adobe's Admin API envelope ``{httpStatus, requestId,
  requestTime, errors}`` or the delivery API's ``{status, message}`` (docs/errors.md).
- Each family's statuses are listed in ``FAMILIES``; ``tests/test_schemathesis.py`` checks the
  server against the document, so a status a route answers but the document omits fails there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

COMPONENTS = "#/components/schemas/"

ADMIN_ERROR = {
    "title": "AdminError",
    "type": "object",
    "description": "Adobe Target Admin API error envelope (docs/errors.md).",
    "required": ["httpStatus", "requestId", "requestTime", "errors"],
    "properties": {
        "httpStatus": {"type": "integer"},
        "requestId": {"type": "string"},
        "requestTime": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["errorCode", "message"],
                "properties": {"errorCode": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
DELIVERY_ERROR = {
    "title": "DeliveryError",
    "type": "object",
    "description": "Adobe delivery API error shape (docs/delivery.md).",
    "required": ["status", "message"],
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
}

_DESCRIPTIONS = {
    304: "Not modified (the ETag matches)",
    400: "Invalid request: each problem names its field",
    401: "Missing, invalid or expired credentials",
    403: "The credentials hold no role allowing this",
    404: "No such tenant, object or route",
    405: "Method not allowed on this path",
    406: "Version not served (Unsupported.Feature)",
    409: "Conflicts with the current state",
    413: "Body larger than CIBLE_MAX_BODY_BYTES",
    415: "Unsupported Content-Type",
    429: "Over the request rate; see Retry-After",
    503: "The database is unavailable",
}


@dataclass(frozen=True)
class Family:
    """The routes whose path ``matches``, their error bodies and the statuses they answer.

    ``errors`` maps a media type to the error body's schema. ``success`` is the media type of
    success bodies when a route's own declaration says only FastAPI's default (JSON).
    """

    matches: Callable[[str], bool]
    errors: dict[str, Any] | None
    statuses: tuple[int, ...]
    write_statuses: tuple[int, ...] = ()
    body_statuses: tuple[int, ...] = ()
    success: str | None = None


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": COMPONENTS + name}


def _admin(path: str) -> bool:
    return path.startswith("/{tenant}/target")


ADMIN = {"application/json": _ref("AdminError")}
DELIVERY = {"application/json": _ref("DeliveryError")}
# Adobe's mbox profile update API answers XML (``<response><success>false</success>...``); a body
# refused before the route runs (413) comes in the delivery shape.
M2 = {"application/xml": {"type": "string"}, "application/json": _ref("DeliveryError")}

# First match wins. Write statuses apply to every method but GET, body statuses to operations
# that take a request body.
FAMILIES = (
    Family(_admin, ADMIN, (400, 401, 403, 404, 406, 429), (409,), (413, 415)),
    Family(lambda p: p.startswith("/ims/"), ADMIN, (400, 401, 429), (), (413, 415)),
    Family(lambda p: p.startswith("/v1/"), ADMIN, (400, 401, 403, 404, 429), (409,), (413, 415)),
    Family(lambda p: p.startswith("/m2/"), M2, (400, 404), (413,), (413, 415), "application/xml"),
    Family(lambda p: p.startswith("/rest/"), DELIVERY, (400, 404), (), (413, 415, 503)),
    Family(lambda p: p.endswith("rules.json"), ADMIN, (304, 400, 404)),
    Family(lambda p: p == "/health", None, (503,)),
)


def _rewrite_refs(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                name = value.removeprefix("#/$defs/")
                out[key] = COMPONENTS + mapping.get(name, name)
            else:
                out[key] = _rewrite_refs(value, mapping)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, mapping) for v in node]
    return node


def _hoist(node: Any, schemas: dict[str, Any]) -> Any:
    """``node`` with every ``$defs`` moved into ``schemas`` (renamed on a clash)."""
    if isinstance(node, list):
        return [_hoist(v, schemas) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _hoist(v, schemas) for k, v in node.items()}
    defs = node.pop("$defs", None)
    if not defs:
        return node
    mapping: dict[str, str] = {}
    for name, schema in defs.items():
        target, n = name, 1
        same = _rewrite_refs(schema, {})
        while target in schemas and schemas[target] != same:
            n += 1
            target = f"{name}{n}"
        mapping[name] = target
    for name, schema in defs.items():
        schemas[mapping[name]] = _rewrite_refs(schema, mapping)
    return _rewrite_refs(node, mapping)


def _error_response(status: int, errors: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "Error")}
    if errors is not None and status != 304:
        response["content"] = {media: {"schema": schema} for media, schema in errors.items()}
    return response


def _declare_errors(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    # FastAPI adds 422 for routes with validated parameters; Cible answers those with 400.
    responses.pop("422", None)
    if method == "options":
        responses.setdefault("204", {"description": "CORS preflight answer"})
    family = next((f for f in FAMILIES if f.matches(path)), None)
    if family is None:
        return
    if family.success is not None:
        for status, response in responses.items():
            if status.startswith("2") and set(response.get("content", {})) == {"application/json"}:
                response["content"] = {family.success: {"schema": {"type": "string"}}}
    statuses = family.statuses + (family.write_statuses if method != "get" else ())
    statuses += family.body_statuses if "requestBody" in operation else ()
    for status in statuses:
        declared = responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
        if "content" not in declared:
            # A route that described the status in words keeps its words and gains the body.
            declared["content"] = _error_response(status, family.errors).get("content")
            if declared["content"] is None:
                del declared["content"]


def build(app: FastAPI) -> dict[str, Any]:
    """The complete document for ``app`` (see the module docstring)."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas: dict[str, Any] = dict(document.get("components", {}).get("schemas", {}))
    paths = _hoist(copy.deepcopy(document["paths"]), schemas)
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method in {"get", "put", "post", "delete", "patch", "options", "head"}:
                _declare_errors(path, method, operation)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["AdminError"] = ADMIN_ERROR
    schemas["DeliveryError"] = DELIVERY_ERROR
    document["paths"] = paths
    document.setdefault("components", {})["schemas"] = schemas
    return document


def install(app: FastAPI) -> None:
    """Serve the complete document at ``/openapi.json``, built once on first request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

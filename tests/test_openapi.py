"""The OpenAPI document lists every route of the app, with a summary and its media types.

Routes come from the app's own route table, so a route added anywhere is checked here. Admin API
routes (``/{tenant}/target/...``) must also name each version they serve
(``x-cible-versions``, from ``cible.web.admin.admin_openapi``) as
``application/vnd.adobe.target.vN+json`` on their success response and, when they take a body,
on their request body.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from tests.conftest import BACKENDS

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS[:1], indirect=True)]

# FastAPI's own documentation routes, which the document does not describe.
DOCS_ROUTES = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    """``(method, path, route)`` for every route of the app but the docs routes."""
    found = []
    for context in iter_route_contexts(app.routes):
        if context.path in DOCS_ROUTES or not context.path:
            continue
        if not getattr(context, "include_in_schema", True):
            continue  # pages and assets (the docs' and the UI's), not API operations
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found.append((method, context.path, context))
    return found


async def _document(http: Any) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


async def test_every_route_is_documented_with_a_summary(app: Any, http: Any) -> None:
    paths = (await _document(http))["paths"]
    routes = _routes(app)
    assert routes, "the route table is empty"
    missing = [f"{m} {p}" for m, p, _ in routes if m.lower() not in paths.get(p, {})]
    assert not missing, f"routes missing from /openapi.json: {missing}"
    # FastAPI derives a summary from the function name when a route gives none; the document
    # must carry one the author wrote.
    unsummarised = [f"{m} {p}" for m, p, route in routes if not getattr(route, "summary", None)]
    assert not unsummarised, f"routes without a summary: {unsummarised}"
    for method, path, route in routes:
        assert paths[path][method.lower()]["summary"] == route.summary


async def test_admin_routes_document_their_media_types(app: Any, http: Any) -> None:
    paths = (await _document(http))["paths"]
    admin = [(m, p) for m, p, _ in _routes(app) if p.startswith("/{tenant}/target")]
    assert admin
    problems = []
    for method, path in admin:
        operation = paths[path][method.lower()]
        versions = operation.get("x-cible-versions")
        if not versions or not all(isinstance(v, int) for v in versions):
            problems.append(f"{method} {path}: no x-cible-versions")
            continue
        wanted = {f"application/vnd.adobe.target.v{v}+json" for v in versions}
        success = [
            c
            for s, r in operation["responses"].items()
            if s.startswith("2")
            for c in r.get("content", {})
        ]
        if not wanted <= set(success):
            problems.append(f"{method} {path}: responses lack {sorted(wanted - set(success))}")
        if method in BODY_METHODS:
            body = set(operation.get("requestBody", {}).get("content", {}))
            if not wanted <= body:
                problems.append(f"{method} {path}: request body lacks {sorted(wanted - body)}")
    assert not problems, "\n".join(problems)


async def test_catalog_routes_serve_their_adobe_versions(http: Any) -> None:
    paths = (await _document(http))["paths"]
    assert paths["/{tenant}/target/audiences"]["get"]["x-cible-versions"] == [1, 3]
    assert paths["/{tenant}/target/audiences/{audience_id}"]["patch"]["x-cible-versions"] == [1, 3]
    for path in ("/properties", "/environments", "/workspaces", "/profileattributes/mbox"):
        assert paths[f"/{{tenant}}/target{path}"]["get"]["x-cible-versions"] == [1]
    created = paths["/{tenant}/target/audiences"]["post"]["responses"]
    assert "application/vnd.adobe.target.v3+json" in created["201"]["content"]


async def test_docs_serve_swagger_ui(http: Any) -> None:
    response = await http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert "/openapi.json" in response.text


CATALOG = ("/audiences", "/properties", "/workspaces", "/environments", "/profileattributes")


async def test_catalog_routes_are_in_docs_catalog(app: Any) -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "catalog.md").read_text()
    missing = []
    for method, path, _ in _routes(app):
        short = path.removeprefix("/{tenant}/target")
        if short.startswith(CATALOG):
            documented = f"`{method} {re.sub(r'{[a-z_]+_id}', '{id}', short)}`"
            if documented not in text:
                missing.append(documented)
    assert not missing, f"document these routes in docs/catalog.md: {missing}"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_every_reference_resolves(http: Any) -> None:
    document = await _document(http)
    refs = set(_refs(document))
    assert "#/components/schemas/OfferLocation" in refs  # activity bodies' nested models
    unresolved = []
    for ref in sorted(refs):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if not ref.startswith("#/") or node is None:
            unresolved.append(ref)
    assert not unresolved, f"$refs that do not resolve: {unresolved}"
    assert "$defs" not in str(document)


async def test_error_statuses_are_declared(http: Any) -> None:
    paths = (await _document(http))["paths"]
    offers = paths["/{tenant}/target/offers/content"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "406", "409", "413", "415", "429"):
        assert "AdminError" in str(offers[status]["content"]["application/json"]), status
    assert "422" not in offers
    delivery = paths["/rest/v1/delivery"]["post"]["responses"]
    assert "DeliveryError" in str(delivery["400"]["content"]["application/json"])
    # Every operation that takes input declares how it refuses bad input.
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path in {"/health", "/metrics"} or method == "options":
                continue
            assert any(s.startswith("4") for s in operation["responses"]), (method, path)


async def test_metrics_are_declared_as_text(http: Any) -> None:
    paths = (await _document(http))["paths"]
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    response = await http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")

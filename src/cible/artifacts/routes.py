"""``GET /{client}/{environment}/v1/rules.json``: the on-device decisioning artifact.

Public, like Adobe's CDN copy: no credentials. Served with a strong ``ETag`` (``If-None-Match``
gives a 304), ``Cache-Control: public, max-age=60`` and gzip when the client accepts it, and with
CORS open to every origin (``Access-Control-Allow-Origin: *``, no credentials) as Adobe's CDN
serves it: at.js 2 and the browser build of Adobe's Node SDK fetch it from the page's origin
(Fetch standard, "CORS protocol"). An
environment no rebuild has stored yet (a new tenant or environment) is compiled from the
database on request, not stored. ``/{propertyToken}/rules.json`` serves the artifact of that
at.js property (see ``cible.artifacts.tasks``).
"""

from __future__ import annotations

import gzip

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from cible.activities.properties.tables import Property
from cible.artifacts.store import StoredArtifact, current
from cible.artifacts.tasks import environments_of, unbuilt_artifact
from cible.errors import NotFound
from cible.store import Database
from cible.tenants.tables import Tenant

CACHE_CONTROL = "public, max-age=60"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
}

router = APIRouter(tags=["artifacts"])


def _load(db: Database, client: str, environment: str, token: str) -> StoredArtifact:
    with db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.client_code == client))
        if tenant is None:
            raise NotFound(f"client {client!r} does not exist")
        ids = {name: env_id for env_id, name in environments_of(session, tenant.id)}
        if environment not in ids:
            raise NotFound(f"environment {environment!r} does not exist for client {client!r}")
        property_id = None
        if token:
            property_id = session.scalar(
                select(Property.id).where(Property.tenant_id == tenant.id, Property.token == token)
            )
            if property_id is None:
                raise NotFound(f"property token {token!r} does not exist for client {client!r}")
        stored = current(session, tenant.id, environment, token)
        if stored is None and token:
            # A property created since the last rebuild has no activity of its own yet, so its
            # artifact is the one without a token.
            stored = current(session, tenant.id, environment)
        if stored is not None:
            return stored
        return unbuilt_artifact(session, tenant, ids[environment], environment, property_id)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110, 13.1.2: weak comparison, ``*`` matches any current representation."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def _accepts_gzip(accept_encoding: str | None) -> bool:
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=")
            return not params.strip() or _positive(q)
    return False


def _positive(q: str) -> bool:
    try:
        return float(q) > 0
    except ValueError:
        return False


def _serve(request: Request, client: str, environment: str, token: str) -> Response:
    stored = _load(request.app.state.db, client, environment, token)
    headers = {
        **CORS,
        "ETag": stored.etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        "Last-Modified": stored.generated_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }
    if _matches(request.headers.get("if-none-match"), stored.etag):
        return Response(status_code=304, headers=headers)
    body = stored.body
    if _accepts_gzip(request.headers.get("accept-encoding")):
        body = gzip.compress(body, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


@router.get("/{client}/{environment}/v1/rules.json", summary="The on-device rules artifact")
def rules(client: str, environment: str, request: Request) -> Response:
    return _serve(request, client, environment, "")


@router.get(
    "/{client}/{environment}/v1/{property_token}/rules.json",
    summary="The on-device rules artifact of an at.js property",
)
def property_rules(
    client: str, environment: str, property_token: str, request: Request
) -> Response:
    return _serve(request, client, environment, property_token)


@router.options("/{client}/{environment}/v1/rules.json", summary="CORS preflight of rules.json")
@router.options(
    "/{client}/{environment}/v1/{property_token}/rules.json",
    summary="CORS preflight of a property's rules.json",
)
def preflight(request: Request) -> Response:
    """A browser asking before a conditional GET (``If-None-Match`` is not a safelisted header)."""
    asked = request.headers.get("access-control-request-headers")
    headers = {
        **CORS,
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": asked or "If-None-Match",
        "Access-Control-Max-Age": "600",
    }
    return Response(status_code=204, headers=headers)

"""``GET``/``POST /{tenant}/target/authentication/token``: Adobe's delivery-side tokens.

Admin API v1 (Adobe's spec: ``authorizationScope=profile_api|debug_tools``, answer
``{accessToken, tokenType, scope, expiresIn}``, 201 when created with ``POST``). A
``profile_api`` token reads and updates every visitor profile of the tenant, so it needs the
write right on the whole tenant; a ``debug_tools`` token (delivery traces, QA) needs any role.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.workspaces.service import require_tenant_write
from cible.delivery import auth_token
from cible.errors import BadRequest, Forbidden
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1,)
PATH = "/authentication/token"

router = APIRouter(prefix="/{tenant}/target", tags=["authentication"])


def _issue(call: AdminCall, status: int) -> Response:
    scopes = call.request.query_params.getlist("authorizationScope")
    if len(scopes) != 1 or scopes[0] not in auth_token.SCOPES:
        raise BadRequest.fields(
            [("authorizationScope", f"give exactly one of {', '.join(auth_token.SCOPES)}")]
        )
    scope = scopes[0]
    if scope == "profile_api":
        try:
            require_tenant_write(call.principal)
        except Forbidden:
            raise Forbidden(
                f"API client {call.principal.client_id} needs the write right on the whole "
                "tenant for a profile_api token"
            ) from None
    with call.db.session() as session:
        issued = auth_token.issue(
            session,
            tenant_id=call.principal.tenant_id,
            scope=scope,
            key=call.settings.secret_key,
            now=call.now,
            ttl=call.settings.auth_token_ttl_seconds,
        )
    return call.render(issued.to_json(), status=status)


@router.get(PATH, **admin_openapi(VERSIONS, summary="Get a Profile API or debug (trace) token"))
def get_token(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    return _issue(call, 200)


@router.post(
    PATH,
    **admin_openapi(
        VERSIONS,
        status=201,
        summary="Create a Profile API or debug token",
        optional_body=True,  # the scope is in the query; a body, if sent, is ignored
    ),
)
def create_token(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    return _issue(call, 201)

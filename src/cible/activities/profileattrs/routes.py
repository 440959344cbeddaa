"""``GET /profileattributes/mbox`` (Adobe Admin API, v1): the profile attribute names seen."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.profileattrs import service
from cible.activities.profileattrs.schemas import profile_attributes_json
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1,)

router = APIRouter(prefix="/{tenant}/target", tags=["profile attributes"])


@router.get(
    "/profileattributes/mbox",
    **admin_openapi(VERSIONS, summary="List the profile attributes seen in mbox requests"),
)
def list_profile_attributes(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        names = service.profile_attribute_names(session, call.principal.tenant_id)
        return call.render(profile_attributes_json(names))

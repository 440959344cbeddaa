"""Adobe's optional "Require Authentication" of the Profile APIs, per tenant.

Off by default, as at Adobe. When a tenant turns it on (``cible tenants profile-auth CODE on``),
profile fetches (``/rest/v1/profiles/...``), single updates (``/m2/{client}/profile/update``),
bulk updates and batch status need ``Authorization: Bearer <token>`` where the token comes from
the Admin API's ``/authentication/token?authorizationScope=profile_api`` for that tenant
(``cible.delivery.auth_token``). Adobe documents the header for bulk updates and says that the
setting covers "all profile API requests"; Cible applies it to all of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cible.delivery import auth_token
from cible.profiles.tables import ProfileApiSettings
from cible.tenants.service import get_tenant

SCOPE = "profile_api"


def requires_auth(session: Session, tenant_id: int) -> bool:
    row = session.get(ProfileApiSettings, tenant_id)
    return row is not None and row.require_auth


def set_requires_auth(session: Session, tenant_code: str, on: bool) -> bool:
    """Turns the tenant's setting on or off; returns the new value."""
    tenant = get_tenant(session, tenant_code)
    row = session.get(ProfileApiSettings, tenant.id)
    if row is None:
        row = ProfileApiSettings(tenant_id=tenant.id, require_auth=on)
        session.add(row)
    row.require_auth = on
    session.flush()
    return on


def refusal(
    session: Session,
    tenant_id: int,
    authorization: str | None,
    *,
    key: str | None,
    now: datetime,
) -> str | None:
    """Why a Profile API request must be refused (401), or None when it may go on."""
    if not requires_auth(session, tenant_id):
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return (
            "this client requires Profile API authentication: send Authorization: Bearer "
            "<token from /authentication/token?authorizationScope=profile_api>"
        )
    try:
        auth_token.verify(
            session, token.strip(), tenant_id=tenant_id, scope=SCOPE, key=key, now=now
        )
    except auth_token.InvalidAuthToken as exc:
        return f"invalid Profile API token: {exc}"
    return None

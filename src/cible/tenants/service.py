"""Tenants, workspaces and API clients: creation, listing, revocation and authentication."""

from __future__ import annotations

import re
import secrets as _random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from cible.store.base import utcnow
from cible.tenants import keys, secrets, tokens
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability, Role, parse_role
from cible.tenants.tables import ApiClient, ClientRole, Tenant, Workspace

CLIENT_CODE = re.compile(r"^[a-z0-9]{1,64}$")

# First path segments the server itself uses (web/app.py); a tenant with one of these codes
# would shadow or be shadowed by a built-in route.
RESERVED_CODES = frozenset(
    {
        "rest", "ims", "m2", "v1", "v2", "ui", "docs", "redoc", "openapi", "health",
        "metrics", "event", "static", "api", "admin", "target", "ping", "favicon",
    }
)  # fmt: skip

DEFAULT_WORKSPACE = "Default Workspace"


def validate_client_code(code: str) -> str:
    if not CLIENT_CODE.match(code):
        raise BadRequest.fields([("clientCode", "must be 1-64 characters of [a-z0-9]")])
    if code in RESERVED_CODES:
        raise BadRequest.fields([("clientCode", f"{code!r} is reserved by the server's paths")])
    return code


def create_tenant(session: Session, code: str, name: str | None = None) -> Tenant:
    """A new tenant with its default workspace; ``Conflict`` if the code is taken."""
    validate_client_code(code)
    if session.scalar(select(Tenant).where(Tenant.client_code == code)) is not None:
        raise Conflict(f"tenant {code!r} already exists")
    org = _random.token_hex(12).upper() + "@AdobeOrg"
    tenant = Tenant(client_code=code, name=name or code, organization_id=org)
    session.add(tenant)
    session.flush()
    session.add(Workspace(tenant_id=tenant.id, name=DEFAULT_WORKSPACE, is_default=True))
    session.flush()
    from cible.activities.environments.service import ensure_default_environments  # no cycle

    ensure_default_environments(session, tenant.id)
    return tenant


ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
MAX_ORIGINS = 100


def set_delivery_origins(session: Session, code: str, origins: list[str] | None) -> Tenant:
    """The origins whose pages may call the tenant's delivery API from a browser; ``None`` lets
    any origin call it, as Adobe's edge does (docs/security.md, "Delivery from browsers").

    An origin is ``scheme://host[:port]`` as browsers send it in ``Origin``: no path, no
    trailing slash; hosts are compared in lower case.
    """
    tenant = get_tenant(session, code)
    if origins is None:
        tenant.delivery_origins = None
        return tenant
    cleaned: list[str] = []
    for i, origin in enumerate(origins):
        value = origin.strip().lower()
        if not ORIGIN.match(value):
            raise BadRequest.fields(
                [(f"origins[{i}]", f"{origin!r} is not an origin (https://host[:port])")]
            )
        if value not in cleaned:
            cleaned.append(value)
    if not cleaned or len(cleaned) > MAX_ORIGINS:
        raise BadRequest.fields([("origins", f"between 1 and {MAX_ORIGINS} origins")])
    tenant.delivery_origins = cleaned
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.id)))


def get_tenant(session: Session, code: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.client_code == code))
    if tenant is None:
        raise NotFound(f"tenant {code!r} does not exist")
    return tenant


def default_workspace(session: Session, tenant_id: int) -> Workspace:
    ws = session.scalar(
        select(Workspace).where(Workspace.tenant_id == tenant_id, Workspace.is_default.is_(True))
    )
    if ws is None:  # every tenant gets one at creation; its absence is a data error
        raise NotFound(f"tenant {tenant_id} has no default workspace")
    return ws


def find_workspace(session: Session, tenant_id: int, ref: str) -> Workspace:
    """The workspace named by id (as Adobe's string) or by name, within the tenant."""
    query = select(Workspace).where(Workspace.tenant_id == tenant_id)
    by = Workspace.id == int(ref) if ref.isdigit() else Workspace.name == ref
    ws = session.scalar(query.where(by))
    if ws is None:
        raise NotFound(f"workspace {ref!r} does not exist")
    return ws


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str
    client: ApiClient


def create_client(
    session: Session,
    *,
    tenant_code: str,
    role: str,
    name: str | None = None,
    workspace: str | None = None,
) -> NewClient:
    """An API client holding ``role`` on the tenant (or one of its workspaces).

    The secret is returned once and stored only hashed.
    """
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise BadRequest.fields([("role", str(exc))]) from None
    tenant = get_tenant(session, tenant_code)
    ws_id = find_workspace(session, tenant.id, workspace).id if workspace else None
    client_id = secrets.new_client_id()
    secret = secrets.new_secret()
    client = ApiClient(
        client_id=client_id,
        secret_hash=secrets.hash_secret(secret),
        name=name or f"{tenant_code}-{parsed.value}",
    )
    client.roles.append(ClientRole(tenant_id=tenant.id, workspace_id=ws_id, role=parsed.value))
    session.add(client)
    session.flush()
    return NewClient(client_id, secret, client)


def grant(
    session: Session, *, client_id: str, tenant_code: str, role: str, workspace: str | None = None
) -> None:
    """Adds a role to an existing client."""
    parsed = parse_role(role)
    client = get_client(session, client_id)
    tenant = get_tenant(session, tenant_code)
    ws_id = find_workspace(session, tenant.id, workspace).id if workspace else None
    client.roles.append(ClientRole(tenant_id=tenant.id, workspace_id=ws_id, role=parsed.value))
    session.flush()


def get_client(session: Session, client_id: str) -> ApiClient:
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        raise NotFound(f"API client {client_id!r} does not exist")
    return client


def list_clients(session: Session, tenant_code: str | None = None) -> list[ApiClient]:
    query = select(ApiClient).order_by(ApiClient.id)
    if tenant_code is not None:
        tenant = get_tenant(session, tenant_code)
        query = query.where(
            ApiClient.id.in_(select(ClientRole.client_pk).where(ClientRole.tenant_id == tenant.id))
        )
    return list(session.scalars(query))


def revoke_client(session: Session, client_id: str, *, now: datetime | None = None) -> ApiClient:
    client = get_client(session, client_id)
    if client.revoked_at is None:
        client.revoked_at = now or utcnow()
    return client


def issue_token(
    session: Session, client_id: str, secret: str, *, key: str | None, ttl: int, now: datetime
) -> str:
    """An access token for valid, unrevoked credentials; ``Unauthorized`` otherwise.

    ``key`` is ``CIBLE_SECRET_KEY`` when set; otherwise the stored keys sign (``keys.keyring``).
    """
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    # Verify against a dummy hash when the client is unknown, so timing does not reveal ids.
    stored = client.secret_hash if client is not None else _DUMMY_HASH
    valid = secrets.verify_secret(stored, secret)
    if client is None or not valid or client.revoked_at is not None:
        raise Unauthorized("invalid client credentials")
    ring = keys.keyring(session, override=key, now=now)
    return tokens.issue(client_id, keyring=ring, now=now, ttl_seconds=ttl)


_DUMMY_HASH = secrets.hash_secret(_random.token_urlsafe(16))


def authenticate(
    session: Session,
    *,
    token: str,
    api_key: str,
    tenant_code: str,
    key: str | None,
    now: datetime,
) -> Principal:
    """The principal for a bearer token and API key acting on ``tenant_code``.

    401 for a missing, forged, expired or mismatched credential or a revoked client; 404 for an
    unknown tenant; 403 for a client holding no role on the tenant.
    """
    try:
        claims = tokens.verify(token, keyring=keys.keyring(session, override=key, now=now), now=now)
    except tokens.InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    if claims.client_id != api_key:
        raise Unauthorized("X-Api-Key does not match the access token's client")
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == claims.client_id))
    if client is None or client.revoked_at is not None:
        raise Unauthorized("API client is revoked or unknown")
    tenant = get_tenant(session, tenant_code)
    grants: dict[int | None, set[Role]] = {}
    for role in client.roles:
        if role.tenant_id == tenant.id:
            grants.setdefault(role.workspace_id, set()).add(Role(role.role))
    if not grants:
        raise Forbidden(f"API client {client.client_id} has no role on tenant {tenant_code!r}")
    return Principal(
        client_id=client.client_id,
        client_pk=client.id,
        tenant_id=tenant.id,
        tenant_code=tenant.client_code,
        grants={ws: frozenset(r) for ws, r in grants.items()},
    )


def workspace_for(
    session: Session, principal: Principal, ref: str | None, capability: Capability
) -> int:
    """The workspace a body names (the default one when absent), checked for ``capability``.

    An unknown workspace is a 400 on the ``workspace`` field; one the client holds no right on is
    a 403.
    """
    if ref is None:
        ws_id = default_workspace(session, principal.tenant_id).id
    else:
        try:
            ws_id = find_workspace(session, principal.tenant_id, ref).id
        except NotFound:
            raise BadRequest.fields([("workspace", f"workspace {ref!r} does not exist")]) from None
    principal.require(capability, ws_id)
    return ws_id

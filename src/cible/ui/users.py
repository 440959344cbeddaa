"""Users of the admin web UI: creation, roles, password checks, and their ``Principal``.

Passwords are stored as Argon2id hashes with argon2-cffi's defaults (RFC 9106's recommended
low-memory profile), heavier than API client secrets because people choose weak passwords.
A user's roles become a ``Principal`` exactly as an API client's do in
``cible.tenants.service.authenticate``, so every domain service checks both the same way.
"""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from cible.tenants import service as tenants
from cible.tenants.principal import Principal
from cible.tenants.roles import Role, parse_role
from cible.tenants.tables import Tenant
from cible.ui.tables import User, UserRole

USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,150}$")
MIN_PASSWORD = 10

_HASHER = PasswordHasher()
# Checked when the user is unknown, so that timing does not tell which usernames exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def new_password() -> str:
    """A random password for generated accounts (the demo user)."""
    return secrets.token_urlsafe(15)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    tenant_code: str,
    role: str,
    workspace: str | None = None,
) -> User:
    """A user holding ``role`` on a tenant (or one of its workspaces)."""
    if not USERNAME.match(username):
        raise BadRequest.fields([("username", "must be 1-150 characters of [A-Za-z0-9._@+-]")])
    if len(password) < MIN_PASSWORD:
        raise BadRequest.fields([("password", f"must be at least {MIN_PASSWORD} characters")])
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, password_hash=_HASHER.hash(password))
    session.add(user)
    session.flush()
    grant(session, user, tenant_code=tenant_code, role=role, workspace=workspace)
    return user


def grant(
    session: Session, user: User, *, tenant_code: str, role: str, workspace: str | None = None
) -> None:
    """Adds a role on a tenant (or one workspace) to ``user``."""
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise BadRequest.fields([("role", str(exc))]) from None
    tenant = tenants.get_tenant(session, tenant_code)
    ws_id = tenants.find_workspace(session, tenant.id, workspace).id if workspace else None
    user.roles.append(UserRole(tenant_id=tenant.id, workspace_id=ws_id, role=parsed.value))
    session.flush()


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def check_password(session: Session, username: str, password: str) -> User:
    """The user whose credentials these are; ``Unauthorized`` otherwise (same message for an
    unknown user, a wrong password and a disabled account)."""
    user = session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        valid: bool = _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        valid = False
    if user is None or not valid or user.disabled_at is not None:
        raise Unauthorized("wrong username or password")
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return user


def tenants_of(session: Session, user: User) -> list[Tenant]:
    """The tenants ``user`` holds a role on, by client code."""
    ids = {r.tenant_id for r in user.roles}
    if not ids:
        return []
    return list(
        session.scalars(select(Tenant).where(Tenant.id.in_(ids)).order_by(Tenant.client_code))
    )


def principal_for(session: Session, user: User, tenant_code: str) -> Principal:
    """The user acting on ``tenant_code``: 404 for an unknown tenant, 403 without a role."""
    tenant = tenants.get_tenant(session, tenant_code)
    grants: dict[int | None, set[Role]] = {}
    for role in user.roles:
        if role.tenant_id == tenant.id:
            grants.setdefault(role.workspace_id, set()).add(Role(role.role))
    if not grants:
        raise Forbidden(f"user {user.username} has no role on tenant {tenant_code!r}")
    return Principal(
        client_id=user.username,
        client_pk=user.id,
        tenant_id=tenant.id,
        tenant_code=tenant.client_code,
        grants={ws: frozenset(r) for ws, r in grants.items()},
    )

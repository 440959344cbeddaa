"""Tokens for the delivery side: Adobe's ``/authentication/token`` with its two scopes.

Adobe's Admin API issues them (``GET``/``POST /{tenant}/target/authentication/token
?authorizationScope=profile_api|debug_tools``, answer ``{accessToken, tokenType, scope,
expiresIn}``) "for capturing mbox traces or profile API access":

- ``profile_api``: the Profile APIs need one when the tenant turned "Require Authentication" on
  (``Authorization: Bearer <token>``);
- ``debug_tools``: a delivery request's ``trace.authorizationToken``; an Admin API access token
  of the tenant is accepted there too.

A token is a JWT signed with the same keys as the Admin API's access tokens (``cible migrate``'s
stored keys, or ``CIBLE_SECRET_KEY``), so key rotation covers both. It names the tenant and the
scope and expires; its issuer differs from the access tokens', so neither kind passes for the
other. Clients treat it as opaque.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.tenants import keys, tokens
from cible.tenants.tables import ApiClient

SCOPES = ("profile_api", "debug_tools")
ISSUER = "cible-target-auth"
TOKEN_TYPE = "bearer"  # noqa: S105 (the OAuth token type, not a secret)


class InvalidAuthToken(Exception):
    """The token is malformed, forged, expired, of another tenant or of another scope."""


@dataclass(frozen=True)
class Issued:
    token: str
    scope: str
    expires_in: int

    def to_json(self) -> dict[str, object]:
        """Adobe's answer: ``{accessToken, tokenType, scope, expiresIn}``."""
        return {
            "accessToken": self.token,
            "tokenType": TOKEN_TYPE,
            "scope": self.scope,
            "expiresIn": self.expires_in,
        }


def issue(
    session: Session, *, tenant_id: int, scope: str, key: str | None, now: datetime, ttl: int
) -> Issued:
    """A token of ``scope`` for ``tenant_id``, valid ``ttl`` seconds from ``now``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    ring = keys.keyring(session, override=key, now=now)
    payload = {
        "iss": ISSUER,
        "tid": tenant_id,
        "scope": scope,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
    }
    signing = ring.signing
    token = jwt.encode(
        payload, signing.secret, algorithm=tokens.ALGORITHM, headers={"kid": signing.kid}
    )
    return Issued(token, scope, ttl)


def verify(
    session: Session, token: str, *, tenant_id: int, scope: str, key: str | None, now: datetime
) -> None:
    """Returns when ``token`` is a live ``scope`` token of ``tenant_id``; raises otherwise."""
    ring = keys.keyring(session, override=key, now=now)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise InvalidAuthToken("the token is malformed") from None
    found = ring.find(kid if isinstance(kid, str) else None)
    if found is None:
        raise InvalidAuthToken("the token is signed by an unknown or retired key")
    try:
        payload = jwt.decode(
            token,
            found.secret,
            algorithms=[tokens.ALGORITHM],
            issuer=ISSUER,
            options={"require": ["iss", "tid", "scope", "exp"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        raise InvalidAuthToken("the token is not a valid authentication token") from None
    if payload.get("tid") != tenant_id:
        raise InvalidAuthToken("the token belongs to another client")
    if payload.get("scope") != scope:
        raise InvalidAuthToken(f"the token's scope is not {scope}")
    # The injected clock, not PyJWT's, decides expiry (tests age tokens).
    if int(payload["exp"]) <= int(now.timestamp()):
        raise InvalidAuthToken("the token has expired")


def is_admin_token_of(
    session: Session, token: str, *, tenant_id: int, key: str | None, now: datetime
) -> bool:
    """Whether ``token`` is a live Admin API access token of a client with a role on the tenant."""
    try:
        claims = tokens.verify(token, keyring=keys.keyring(session, override=key, now=now), now=now)
    except tokens.InvalidToken:
        return False
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == claims.client_id))
    if client is None or client.revoked_at is not None:
        return False
    return any(role.tenant_id == tenant_id for role in client.roles)

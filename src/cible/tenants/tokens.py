"""Access tokens in the shape of Adobe IMS server-to-server credentials: signed JWTs (RFC 7519).

The token names its client (``sub``); every request looks the client up, so revoking a client
takes effect at once on the tokens already handed out. The JWT header's ``kid`` names the key that
signed it, so a rotated key keeps verifying its tokens while a new one signs (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
ISSUER = "cible-ims"


@dataclass(frozen=True)
class Key:
    """One HS256 key and the id (``kid``) tokens carry to name it."""

    kid: str
    secret: str


@dataclass(frozen=True)
class Keyring:
    """The key that signs new tokens and every key whose tokens are still accepted.

    >>> old, new = Key("a", "t" * 32), Key("b", "s" * 32)
    >>> Keyring(signing=new, accepted=(old, new)).find("a") == old
    True
    """

    signing: Key
    accepted: tuple[Key, ...]

    def find(self, kid: str | None) -> Key | None:
        for key in self.accepted:
            if key.kid == kid:
                return key
        return None


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    issued_at: datetime
    expires_at: datetime


class InvalidToken(Exception):
    """The token is malformed, forged or expired; the message says which."""


def issue(client_id: str, *, keyring: Keyring, now: datetime, ttl_seconds: int) -> str:
    expires = now + timedelta(seconds=ttl_seconds)
    payload = {
        "sub": client_id,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "type": "access_token",
    }
    key = keyring.signing
    return jwt.encode(payload, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})


def verify(token: str, *, keyring: Keyring, now: datetime) -> TokenClaims:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid access token: {exc}") from None
    key = keyring.find(kid if isinstance(kid, str) else None)
    if key is None:
        raise InvalidToken("invalid access token: signed by an unknown or retired key")
    try:
        payload = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "iat", "exp", "iss"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid access token: {exc}") from None
    claims = TokenClaims(
        client_id=str(payload["sub"]),
        issued_at=datetime.fromtimestamp(int(payload["iat"]), now.tzinfo),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), now.tzinfo),
    )
    # Expiry is checked against the injected clock rather than PyJWT's, so tests can age tokens.
    if claims.expires_at <= now:
        raise InvalidToken("access token expired")
    return claims

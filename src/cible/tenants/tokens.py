"""Access tokens in the shape of Adobe IMS server-to-server credentials: signed JWTs (RFC 7519).

The token names its client (``sub``); every request looks the client up, so revoking a client
takes effect at once on the tokens already handed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
ISSUER = "cible-ims"


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    issued_at: datetime
    expires_at: datetime


class InvalidToken(Exception):
    """The token is malformed, forged or expired; the message says which."""


def issue(client_id: str, *, key: str, now: datetime, ttl_seconds: int) -> str:
    expires = now + timedelta(seconds=ttl_seconds)
    payload = {
        "sub": client_id,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "type": "access_token",
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify(token: str, *, key: str, now: datetime) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            key,
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

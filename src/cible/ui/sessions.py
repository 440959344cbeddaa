"""Sign-in sessions of the admin web UI, stored server-side, each with its CSRF token.

The browser holds a random token in an ``HttpOnly``, ``SameSite=Lax`` cookie; the database keeps
its SHA-256, the user, the expiry and a second random token that every form echoes (the
synchronizer token pattern, OWASP CSRF Prevention Cheat Sheet). Expiry is absolute, counted from
sign-in (``CIBLE_UI_SESSION_TTL_SECONDS``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cible.ui.tables import UiSession, User


@dataclass(frozen=True)
class Signed:
    """A valid session: who, and the CSRF token its forms must carry."""

    user: User
    csrf_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, now: datetime, ttl_seconds: int) -> str:
    """A new session for ``user``; returns the cookie token (shown only here)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UiSession(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    # Expired sessions of this user go now rather than by a sweeper job.
    session.execute(
        delete(UiSession).where(UiSession.user_id == user.id, UiSession.expires_at <= now)
    )
    session.flush()
    return token


def lookup(session: Session, token: str | None, now: datetime) -> Signed | None:
    """The session behind a cookie token, or None (unknown, expired, or user disabled)."""
    if not token:
        return None
    row = session.get(UiSession, _hash(token))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if row.expires_at <= now or user is None or user.disabled_at is not None:
        session.delete(row)
        return None
    return Signed(user=user, csrf_token=row.csrf_token)


def end(session: Session, token: str | None) -> None:
    """Sign out: the session stops working at once."""
    if token:
        session.execute(delete(UiSession).where(UiSession.token_hash == _hash(token)))


def csrf_valid(signed: Signed, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(signed.csrf_token, given)

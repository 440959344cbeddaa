"""Signing keys for access tokens: generated at random, kept in the database, rotated.

Cible ships no built-in key: a key anyone can read in the source lets anyone who knows a client id
(it travels in ``X-Api-Key``) mint an admin token offline. ``cible migrate`` stores a random
256-bit key; ``CIBLE_SECRET_KEY`` overrides the stored keys when an operator prefers to manage the
key himself; ``cible keys rotate`` adds a key and keeps the previous one accepted until every token
it signed has expired (docs/security.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cible.store.base import utcnow
from cible.tenants.tables import SigningKey
from cible.tenants.tokens import Key, Keyring

# The kid a token signed with ``CIBLE_SECRET_KEY`` carries; stored kids are random hex.
SETTING_KID = "setting"

__all__ = ["KeyInfo", "ensure_key", "keyring", "list_keys", "rotate", "utcnow"]


@dataclass(frozen=True)
class KeyInfo:
    """What ``cible keys list`` shows: never the secret."""

    kid: str
    created_at: datetime
    retires_at: datetime | None


def _new_key(now: datetime) -> SigningKey:
    return SigningKey(
        kid=secrets.token_hex(8), secret=secrets.token_urlsafe(32), created_at=now, retires_at=None
    )


def ensure_key(session: Session, *, now: datetime) -> bool:
    """Store a random signing key when none is active; whether one was created."""
    if _active(session, now):
        return False
    session.add(_new_key(now))
    session.flush()
    return True


def _active(session: Session, now: datetime) -> list[SigningKey]:
    query = (
        select(SigningKey)
        .where(or_(SigningKey.retires_at.is_(None), SigningKey.retires_at > now))
        .order_by(SigningKey.id)
    )
    return list(session.scalars(query))


def keyring(session: Session, *, override: str | None, now: datetime) -> Keyring:
    """The keys in force: the setting alone when it is set, else the stored keys.

    A database that was migrated without ``cible migrate`` (tests, ``alembic upgrade``) gets its
    key on first use, so no code path ever signs with a guessable key.
    """
    if override:
        key = Key(SETTING_KID, override)
        return Keyring(signing=key, accepted=(key,))
    rows = _active(session, now)
    signing = [r for r in rows if r.retires_at is None]
    if not signing:
        row = _new_key(now)
        session.add(row)
        session.flush()
        rows.append(row)
        signing = [row]
    accepted = tuple(Key(r.kid, r.secret) for r in rows)
    newest = signing[-1]
    return Keyring(signing=Key(newest.kid, newest.secret), accepted=accepted)


def rotate(session: Session, *, now: datetime, grace_seconds: int) -> KeyInfo:
    """Add a new signing key; the keys it replaces verify for ``grace_seconds`` more.

    ``grace_seconds`` is the token lifetime: the last token the old key signed expires then.
    """
    retire_at = now + timedelta(seconds=grace_seconds)
    session.execute(
        update(SigningKey).where(SigningKey.retires_at.is_(None)).values(retires_at=retire_at)
    )
    row = _new_key(now)
    session.add(row)
    session.flush()
    return KeyInfo(row.kid, row.created_at, row.retires_at)


def list_keys(session: Session, *, now: datetime) -> list[KeyInfo]:
    """Keys still accepted, oldest first."""
    return [KeyInfo(r.kid, r.created_at, r.retires_at) for r in _active(session, now)]

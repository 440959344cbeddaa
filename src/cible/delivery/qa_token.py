"""QA tokens: the opaque string of a QA link, read back by the delivery API's ``qaMode``.

Adobe's QA links carry an encrypted token holding the activities a tester may preview; the
delivery API refuses a token that is not the request's client's (Adobe, "Use Activity QA with
server-side delivery": "should be an encrypted token belonging to the client specified in the
Target request"). Cible's token is signed, not encrypted: what it holds (the tenant, the
activities with the experience the link is for, an expiry) is of no use to whoever reads it,
and it cannot be changed without the tenant's key::

    base64url( b"cq1" | tenant id (int64) | expires (int64, epoch seconds) | count (uint8)
               | count * (activity id (int64) | experience index (uint16, 1-based, 0: none))
               | first 16 bytes of HMAC-SHA256(QA key, everything before) )

The QA key of a tenant is ``HMAC-SHA256(event-token key, "cible.qa-token")`` over each of the
tenant's event-token keys (``cible.tenants.event_keys``): one derivation per purpose, rotated with
``cible keys rotate``, and a token signed before a rotation keeps verifying while the retired key
does. No table is needed: the links an activity hands out are never stored.

>>> key = (b"k" * 32,)
>>> token = mint(7, [(1001, 2)], expires=2_000_000_000, keys=key)
>>> read(token, 7, now=1_900_000_000, keys=key)
QaGrant(tenant_id=7, activities=((1001, 2),), expires=2000000000)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["MAX_ACTIVITIES", "QaGrant", "QaTokenError", "mint", "qa_key", "read"]

_MAGIC = b"cq1"
_HEAD = struct.Struct(">qqB")
_ENTRY = struct.Struct(">qH")
_TAG_BYTES = 16
MAX_ACTIVITIES = 50
_PURPOSE = b"cible.qa-token"


class QaTokenError(ValueError):
    """A token the request's client may not use; ``str(error)`` says why."""


@dataclass(frozen=True, slots=True)
class QaGrant:
    """What a valid token allows: these activities (each with the link's experience index,
    0 when it names none), for this tenant, until ``expires`` (epoch seconds)."""

    tenant_id: int
    activities: tuple[tuple[int, int], ...]
    expires: int


def qa_key(event_token_key: bytes) -> bytes:
    """The QA-token key derived from one of the tenant's event-token keys."""
    return hmac.new(event_token_key, _PURPOSE, hashlib.sha256).digest()


def _tag(payload: bytes, key: bytes) -> bytes:
    return hmac.new(qa_key(key), payload, hashlib.sha256).digest()[:_TAG_BYTES]


def mint(
    tenant_id: int,
    activities: Sequence[tuple[int, int]],
    *,
    expires: int,
    keys: Sequence[bytes],
) -> str:
    """A token for ``activities`` (``(activity id, experience index)``), signed with the
    tenant's signing key (``keys[0]``)."""
    if not 0 < len(activities) <= MAX_ACTIVITIES:
        raise ValueError(f"a QA token names 1 to {MAX_ACTIVITIES} activities")
    payload = _MAGIC + _HEAD.pack(tenant_id, expires, len(activities))
    payload += b"".join(_ENTRY.pack(a, e) for a, e in activities)
    raw = payload + _tag(payload, keys[0])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(token: str) -> tuple[bytes, bytes, int, int, tuple[tuple[int, int], ...]]:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise QaTokenError("not a QA token") from None
    if not raw.startswith(_MAGIC) or len(raw) < len(_MAGIC) + _HEAD.size + _TAG_BYTES:
        raise QaTokenError("not a QA token")
    tenant_id, expires, count = _HEAD.unpack_from(raw, len(_MAGIC))
    start = len(_MAGIC) + _HEAD.size
    if count == 0 or len(raw) != start + count * _ENTRY.size + _TAG_BYTES:
        raise QaTokenError("not a QA token")
    entries = tuple(_ENTRY.unpack_from(raw, start + i * _ENTRY.size) for i in range(count))
    return raw[:-_TAG_BYTES], raw[-_TAG_BYTES:], tenant_id, expires, entries


def read(token: str, tenant_id: int, *, now: float, keys: Iterable[bytes]) -> QaGrant:
    """The grant of a token for ``tenant_id`` at ``now`` (epoch seconds).

    Raises ``QaTokenError`` for a malformed or forged token, another tenant's token, or an
    expired one; ``keys`` are the tenant's event-token keys (signing first).
    """
    payload, tag, owner, expires, entries = _decode(token)
    if owner != tenant_id:
        raise QaTokenError("the token belongs to another client")
    if not any(hmac.compare_digest(tag, _tag(payload, key)) for key in keys):
        raise QaTokenError("the token's signature does not verify (forged, or its key retired)")
    if now >= expires:
        raise QaTokenError("the token has expired; ask the Admin API for a new QA link")
    return QaGrant(owner, entries, expires)

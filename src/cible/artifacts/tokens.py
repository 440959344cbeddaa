"""Event tokens: the opaque strings a decision carries so a later notification can be counted.

Adobe's SDKs copy each option's ``eventToken`` from the artifact into display notifications
(``target_decisioning_engine/notification_provider.py``); the delivery API receives them back and
must know which activity and experience was shown. Adobe's tokens are encrypted server-side
state; Cible's are deterministic, so every compile of the same activity yields the same token and
no table is needed to read one back::

    base64( b"ct1" | activity id (int64, big-endian) | experience local id (int32)
            | first 8 bytes of HMAC-SHA256(key, the 15 bytes before) )

``key`` is the caller's ``secret`` or, without one, a fixed public key: the tag then only
detects corruption. With a per-tenant secret it also stops a client forging tokens to inflate
another experience's counts.

>>> token = event_token(1001, 2)
>>> decode_event_token(token)
EventTokenRef(activity_id=1001, experience_local_id=2)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

__all__ = ["EventTokenRef", "decode_event_token", "event_token"]

_MAGIC = b"ct1"
_BODY = struct.Struct(">qi")
_TAG_BYTES = 8
_PUBLIC_KEY = b"cible.artifacts.event_token.v1"
_LENGTH = len(_MAGIC) + _BODY.size + _TAG_BYTES


@dataclass(frozen=True, slots=True)
class EventTokenRef:
    """What an event token points at."""

    activity_id: int
    experience_local_id: int


def _tag(payload: bytes, secret: bytes | None) -> bytes:
    return hmac.new(secret or _PUBLIC_KEY, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def event_token(activity_id: int, experience_local_id: int, *, secret: bytes | None = None) -> str:
    """The display event token of one experience of one activity (stable across compiles)."""
    payload = _MAGIC + _BODY.pack(activity_id, experience_local_id)
    return base64.b64encode(payload + _tag(payload, secret)).decode("ascii")


def decode_event_token(token: object, *, secret: bytes | None = None) -> EventTokenRef | None:
    """The activity and experience of a token made by ``event_token``, else ``None``.

    ``None`` covers tokens from elsewhere (Adobe's, a click metric's), corrupted tokens and,
    when ``secret`` is given, tokens signed with another key.
    """
    if not isinstance(token, str):
        return None
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) != _LENGTH or not raw.startswith(_MAGIC):
        return None
    payload, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(payload, secret)):
        return None
    activity_id, experience_local_id = _BODY.unpack(payload[len(_MAGIC) :])
    return EventTokenRef(activity_id, experience_local_id)

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

A click metric's token (the ``metrics[].eventToken`` of a view or page-load rule, sent back in a
``click`` notification) has its own tag and also names the metric, so that no click token is
ever a display token::

    base64( b"cc1" | activity id (int64) | experience local id (int32) | metric local id (int32)
            | first 8 bytes of HMAC-SHA256(key, the 19 bytes before) )

Adobe's click tokens name the activity and metric and leave the experience to the visitor's
assignment; Cible's name the experience too, so a click is counted from the token alone.

>>> token = event_token(1001, 2)
>>> decode_event_token(token)
EventTokenRef(activity_id=1001, experience_local_id=2)
>>> decode_event_token(click_token(1001, 2, 32767))
EventTokenRef(activity_id=1001, experience_local_id=2)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

__all__ = ["EventTokenRef", "click_token", "decode_event_token", "event_token"]

_MAGIC = b"ct1"
_BODY = struct.Struct(">qi")
_TAG_BYTES = 8
_PUBLIC_KEY = b"cible.artifacts.event_token.v1"
_LENGTH = len(_MAGIC) + _BODY.size + _TAG_BYTES
_CLICK_MAGIC = b"cc1"
_CLICK_BODY = struct.Struct(">qii")
_CLICK_LENGTH = len(_CLICK_MAGIC) + _CLICK_BODY.size + _TAG_BYTES


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


def click_token(
    activity_id: int, experience_local_id: int, metric_local_id: int, *, secret: bytes | None = None
) -> str:
    """The event token of a click metric of one experience (stable across compiles)."""
    payload = _CLICK_MAGIC + _CLICK_BODY.pack(activity_id, experience_local_id, metric_local_id)
    return base64.b64encode(payload + _tag(payload, secret)).decode("ascii")


def decode_event_token(token: object, *, secret: bytes | None = None) -> EventTokenRef | None:
    """The activity and experience of a token made by ``event_token`` or ``click_token``.

    ``None`` covers tokens from elsewhere (Adobe's), corrupted tokens and, when ``secret`` is
    given, tokens signed with another key.
    """
    if not isinstance(token, str):
        return None
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) == _LENGTH and raw.startswith(_MAGIC):
        magic, body = _MAGIC, _BODY
    elif len(raw) == _CLICK_LENGTH and raw.startswith(_CLICK_MAGIC):
        magic, body = _CLICK_MAGIC, _CLICK_BODY
    else:
        return None
    payload, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(payload, secret)):
        return None
    activity_id, experience_local_id = body.unpack(payload[len(magic) :])[:2]
    return EventTokenRef(activity_id, experience_local_id)

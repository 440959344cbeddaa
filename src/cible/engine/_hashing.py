"""Traffic allocation: the bucket a visitor falls in for an activity.

Adobe Target assigns a visitor to an experience by hashing a "device id" with MurmurHash3 (x86,
32-bit, seed 0) and mapping the hash to a percentage that the rule's JSON Logic condition compares
with the `allocation` variable. The hash runs over the string's UTF-16 code units, two per 32-bit
block (Java's `Hashing.murmur3_32().hashUnencodedChars`, which Adobe's edge uses), and not over its
UTF-8 bytes. Over UTF-16-LE bytes the byte-oriented MurmurHash3 reads exactly those blocks, so the
`mmh3` C package, when installed, computes it; the pure-Python function below gives the same
values and is used otherwise (sources: `target_tools/hashing.py` and
`target_decisioning_engine/allocation_provider.py` in target-python-sdk 1.1.0; Node SDK
`target-tools/src/hashing.js`; docs/engine.md).

The Python SDK hashes code points, not code units, so it differs from Adobe's edge for characters
outside the Basic Multilingual Plane; Cible follows the edge.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "CAMPAIGN_BUCKET_SALT",
    "allocation_for",
    "device_id",
    "murmur3_utf16",
    "murmur3_utf16_pure",
]

# allocation_provider.py: CAMPAIGN_BUCKET_SALT, TOTAL_BUCKETS, MAX_PERCENTAGE
CAMPAIGN_BUCKET_SALT = "0"
_TOTAL_BUCKETS = 10000

_MASK = 0xFFFFFFFF
_C1 = 0xCC9E2D51
_C2 = 0x1B873593


def murmur3_utf16_pure(text: str) -> int:
    """MurmurHash3 x86 32-bit, seed 0, of `text`'s UTF-16 code units, as a signed int."""
    data = text.encode("utf-16-le")
    length = len(data)
    h1 = 0
    rounded_end = length & ~3
    for block in struct.unpack(f"<{rounded_end // 4}I", data[:rounded_end]):
        k1 = (block * _C1) & _MASK
        k1 = ((k1 << 15) | (k1 >> 17)) & _MASK
        k1 = (k1 * _C2) & _MASK
        h1 ^= k1
        h1 = ((h1 << 13) | (h1 >> 19)) & _MASK
        h1 = (h1 * 5 + 0xE6546B64) & _MASK
    if length & 3:
        # UTF-16 gives an even byte count, so the tail is one code unit (two bytes).
        k1 = int.from_bytes(data[rounded_end:], "little")
        k1 = (k1 * _C1) & _MASK
        k1 = ((k1 << 15) | (k1 >> 17)) & _MASK
        k1 = (k1 * _C2) & _MASK
        h1 ^= k1
    h1 ^= length
    h1 ^= h1 >> 16
    h1 = (h1 * 0x85EBCA6B) & _MASK
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & _MASK
    h1 ^= h1 >> 16
    return h1 - 0x100000000 if h1 & 0x80000000 else h1


def _select_implementation() -> Callable[[str], int]:
    try:
        import mmh3
    except ImportError:
        return murmur3_utf16_pure

    mmh3_hash = mmh3.hash

    def murmur3_utf16_c(text: str) -> int:
        result: int = mmh3_hash(text.encode("utf-16-le"), 0, signed=True)
        return result

    return murmur3_utf16_c


murmur3_utf16: Callable[[str], int] = _select_implementation()
"""MurmurHash3 of UTF-16 code units: the `mmh3` accelerator when importable, else the pure one."""


def device_id(client: str, activity_id: object, visitor_id: str) -> str:
    """The string Adobe hashes: `"{client}.{activityId}.{visitorId}.{salt}"`."""
    return f"{client}.{activity_id}.{visitor_id}.{CAMPAIGN_BUCKET_SALT}"


def allocation_for(
    client: str,
    activity_id: object,
    visitor_id: str,
    hash_function: Callable[[str], int] | None = None,
) -> float:
    """The visitor's allocation for an activity, 0.0 to 99.99, as Adobe's rules compare it.

    >>> allocation_for("acme", 123, "visitor-1") == allocation_for("acme", 123, "visitor-1")
    True
    """
    text = f"{client}.{activity_id}.{visitor_id}.{CAMPAIGN_BUCKET_SALT}"  # device_id, inlined
    hashed = (hash_function or murmur3_utf16)(text)
    return _PERCENTAGES[abs(hashed) % _TOTAL_BUCKETS]


# allocation_provider.py: round(bucket / TOTAL_BUCKETS * 100, 2), computed once per bucket.
_PERCENTAGES = tuple(round(bucket / _TOTAL_BUCKETS * 100, 2) for bucket in range(_TOTAL_BUCKETS))


def allocation_visitor(ids: Any) -> str | None:
    """The id an allocation hashes, from a request's ``id`` (Adobe's SDK,
    ``allocation_provider.py`` ``get_or_create_visitor_id``): ``marketingCloudVisitorId``, else
    the ``tntId`` before its first dot, else ``thirdPartyId``."""
    if not isinstance(ids, Mapping):
        return None
    visitor = ids.get("marketingCloudVisitorId")
    if not (visitor and isinstance(visitor, str)):
        tnt_id = ids.get("tntId")
        visitor = tnt_id.split(".")[0] if isinstance(tnt_id, str) else None
    if not (visitor and isinstance(visitor, str)):
        visitor = ids.get("thirdPartyId")
    return visitor if visitor and isinstance(visitor, str) else None

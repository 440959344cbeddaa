"""Adobe Target's `mbox` and `mboxEdgeCluster` cookies, in the format Adobe's SDKs and at.js share.

The `mbox` cookie packs several internal cookies as `name#value#expires` joined by `|`, names and
values percent-encoded, `expires` in epoch seconds (`target_python_sdk/cookies.py`):
`session#<session id>#<expires>|PC#<tntId>#<expires>`. The session part lives 31 minutes, the
PC (device id) part two years (`helper.py`: SESSION_ID_MAX_AGE 1860, DEVICE_ID_MAX_AGE
63244800); the cookie's `maxAge` is the longest of them. The location hint cookie
`mboxEdgeCluster` carries the edge cluster for 31 minutes.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, unquote

__all__ = [
    "DEVICE_ID_COOKIE",
    "LOCATION_HINT_COOKIE",
    "SESSION_ID_COOKIE",
    "TARGET_COOKIE",
    "cluster_from_device_id",
    "cluster_from_edge_host",
    "location_hint_cookie",
    "parse_target_cookie",
    "target_cookie",
]

TARGET_COOKIE = "mbox"
SESSION_ID_COOKIE = "session"
DEVICE_ID_COOKIE = "PC"
LOCATION_HINT_COOKIE = "mboxEdgeCluster"
SESSION_ID_MAX_AGE = 1860
DEVICE_ID_MAX_AGE = 63244800
LOCATION_HINT_MAX_AGE = 1860


def parse_target_cookie(value: str | None, now: float) -> dict[str, str]:
    """The unexpired internal cookies of an `mbox` cookie value, as `{name: value}`."""
    if not value:
        return {}
    found: dict[str, str] = {}
    for part in value.split("|"):
        pieces = part.split("#")
        if len(pieces) < 3:
            continue
        try:
            expires = int(pieces[2])
        except ValueError:
            continue
        if math.ceil(now) <= expires:
            found[unquote(pieces[0])] = unquote(pieces[1])
    return found


def target_cookie(session_id: str, tnt_id: str | None, now: float) -> dict[str, Any]:
    """The `mbox` cookie to set: `{"name": "mbox", "value": ..., "maxAge": seconds}`."""
    seconds = int(now)
    longest = seconds + SESSION_ID_MAX_AGE
    value = f"{SESSION_ID_COOKIE}#{_quote(session_id)}#{longest}"
    if tnt_id:
        longest = seconds + DEVICE_ID_MAX_AGE
        value += f"|{DEVICE_ID_COOKIE}#{_quote(tnt_id)}#{longest}"
    return {"name": TARGET_COOKIE, "value": value, "maxAge": math.ceil(abs(longest - now))}


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/")


def _quote(value: str) -> str:
    # urllib's quote (what Adobe's SDK uses), skipped for the common all-unreserved id.
    return value if _UNRESERVED.issuperset(value) else quote(value)


def cluster_from_device_id(device_id: str | None) -> str | None:
    """`<id>.<cluster>_<n>` → `<cluster>` (helper.py `extract_cluster_from_device_id`)."""
    if not device_id:
        return None
    parts = device_id.split(".")
    if len(parts) != 2 or not parts[1]:
        return None
    node = parts[1].split("_")
    if len(node) != 2 or not node[0]:
        return None
    return node[0]


def cluster_from_edge_host(edge_host: str | None) -> str | None:
    """`mboxedge<cluster>.tt.omtrdc.net` → `<cluster>`; only four-part hosts count."""
    if not edge_host:
        return None
    parts = edge_host.split(".")
    if len(parts) != 4 or not parts[0]:
        return None
    return parts[0].replace("mboxedge", "")


def location_hint_cookie(cluster: str | None) -> dict[str, Any] | None:
    """The `mboxEdgeCluster` cookie for a known cluster, else None."""
    if not cluster:
        return None
    return {"name": LOCATION_HINT_COOKIE, "value": cluster, "maxAge": LOCATION_HINT_MAX_AGE}


def marketing_cloud_visitor_id(visitor_cookie: str | None) -> str | None:
    """The ECID (`MCMID`) in an `AMCV_` visitor cookie value (`...|MCMID|<ecid>|...`)."""
    if not visitor_cookie:
        return None
    parts = unquote(visitor_cookie).split("|")
    for position, part in enumerate(parts[:-1]):
        if part == "MCMID" and parts[position + 1]:
            return parts[position + 1]
    return None

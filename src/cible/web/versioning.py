"""Adobe Target Admin API versioning through vendor media types.

Adobe Admin API overview, "Versioning": a request with a payload (POST, PUT, PATCH) names its
version in ``Content-Type``, one without (GET, DELETE, OPTIONS) in ``Accept``, as
``application/vnd.adobe.target.vN+json``; no version means v1, and ``application/json`` is v1.
A version the route does not serve is a 406 ``Unsupported.Feature``. The response's
``Content-Type`` names the version served.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.responses import Response

from cible.errors import UnsupportedFeature, UnsupportedMediaType

VENDOR = re.compile(r"^application/vnd\.adobe\.target\.v(\d{1,3})\+json$")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_TYPES = frozenset({"application/json", "text/json"})


def media_type(version: int) -> str:
    return f"application/vnd.adobe.target.v{version}+json"


def _essence(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _version_of(essence: str) -> int | None:
    """The version a media type names; 1 for plain JSON; None if it names no JSON at all."""
    match = VENDOR.match(essence)
    if match:
        return int(match.group(1))
    if essence in JSON_TYPES:
        return 1
    return None


def _accepted(header: str) -> list[tuple[str, float]]:
    """Accept's media ranges with their q-values (RFC 9110, section 12.5.1)."""
    ranges = []
    for part in header.split(","):
        if not part.strip():
            continue
        pieces = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((pieces[0].lower(), q))
    return ranges


def negotiate(
    method: str, content_type: str | None, accept: str | None, supported: frozenset[int]
) -> int:
    """The version to serve, or ``UnsupportedFeature`` / ``UnsupportedMediaType``."""
    if method.upper() in BODY_METHODS and content_type:
        version = _version_of(_essence(content_type))
        if version is None:
            raise UnsupportedMediaType(
                f"Content-Type {_essence(content_type)!r} is not supported; "
                "send application/vnd.adobe.target.vN+json or application/json"
            )
        if version not in supported:
            raise UnsupportedFeature()
        return version
    if method.upper() in BODY_METHODS or not accept:
        if 1 not in supported:
            raise UnsupportedFeature()
        return 1
    wanted = [(r, q) for r, q in _accepted(accept) if q > 0]
    vendor = [(int(m.group(1)), q) for r, q in wanted if (m := VENDOR.match(r))]
    if vendor:
        # Highest q first, then the newest version among equals.
        for version, _q in sorted(vendor, key=lambda vq: (-vq[1], -vq[0])):
            if version in supported:
                return version
        raise UnsupportedFeature()
    if 1 not in supported:
        raise UnsupportedFeature()
    return 1


class VersionedJSON(Response):
    """A JSON response whose ``Content-Type`` names the Admin API version served."""

    def __init__(self, content: Any, *, version: int, status_code: int = 200) -> None:
        super().__init__(
            orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS),
            status_code=status_code,
            media_type=media_type(version),
        )

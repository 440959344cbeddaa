"""Where an operation's ``relativeUrl`` goes: checks, legacy forms, and the tenant prefix.

A ``relativeUrl`` is resolved against ``/{tenant}/target``, the base of every Admin API route:
``/offers/content`` becomes ``/acme/target/offers/content``. Adobe's batch reference documents
``relativeUrl`` as "the part after ``/admin/rest/``" with legacy examples (``/v1/offers``,
``/v2/campaigns?limit=10&offset=10``); those forms are mapped onto the current routes by
``LEGACY`` below (the table is repeated in ``docs/batch.md``). A legacy version segment does not
choose a media type version: the operation's own ``Content-Type``/``Accept`` headers do.

Adobe answers 404 for an invalid ``relativeUrl`` and asks for URL-encoded query strings; Cible
answers 404 for a URL that does not start with ``/``, holds characters not allowed in a path
(RFC 3986 section 3.3), climbs with ``.``/``..`` segments or names the batch route itself, and
400 for a query string with characters that must be percent-encoded (RFC 3986 section 3.4).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from cible.errors import BadRequest, NotFound

_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = r"[A-Za-z0-9\-._~!$&'()*+,;=:@]"
PATH = re.compile(rf"^(?:/(?:{_PCHAR}|{_PCT})*)+$")
QUERY = re.compile(rf"^(?:{_PCHAR}|[/?]|{_PCT})*$")
LEGACY_VERSION = re.compile(r"^/v\d+(/.*)?$")


@dataclass(frozen=True)
class LegacyRoute:
    """``pattern`` (after the ``/vN`` segment) with the current path it maps to, per method."""

    pattern: re.Pattern[str]
    target: Callable[[str, re.Match[str]], str]
    description: str


def _by_method(collection: str, create: str) -> Callable[[str, re.Match[str]], str]:
    return lambda method, _m: create if method == "POST" else collection


def _item(base: str) -> Callable[[str, re.Match[str]], str]:
    return lambda _method, m: f"{base}/{m.group(1)}{m.group(2) or ''}"


# Adobe Target's legacy resource names: campaigns are activities (A/B by default), segments are
# audiences, and an offer without a type is an HTML content offer.
LEGACY: tuple[LegacyRoute, ...] = (
    LegacyRoute(
        re.compile(r"^/offers/?$"),
        _by_method("/offers", "/offers/content"),
        "/vN/offers: POST -> /offers/content, other methods -> /offers",
    ),
    LegacyRoute(
        re.compile(r"^/offers/([^/]+)(/.*)?$"),
        _item("/offers/content"),
        "/vN/offers/{id} -> /offers/content/{id}",
    ),
    LegacyRoute(
        re.compile(r"^/campaigns/?$"),
        _by_method("/activities", "/activities/ab"),
        "/vN/campaigns: POST -> /activities/ab, other methods -> /activities",
    ),
    LegacyRoute(
        re.compile(r"^/campaigns/([^/]+)(/.*)?$"),
        _item("/activities/ab"),
        "/vN/campaigns/{id}[/...] -> /activities/ab/{id}[/...]",
    ),
    LegacyRoute(
        re.compile(r"^/segments(?:/([^/]+)(/.*)?)?/?$"),
        lambda _method, m: (
            "/audiences" + (f"/{m.group(1)}{m.group(2) or ''}" if m.group(1) else "")
        ),
        "/vN/segments[/{id}] -> /audiences[/{id}]",
    ),
)


def map_path(method: str, path: str) -> str:
    """The current Admin API path (below ``/{tenant}/target``) for ``path``.

    ``/vN/...`` paths go through ``LEGACY``; any other ``/vN/rest`` becomes ``/rest`` (e.g.
    ``/v1/mboxes`` -> ``/mboxes``); current paths are kept as they are.
    """
    legacy = LEGACY_VERSION.match(path)
    if not legacy:
        return path
    rest = legacy.group(1) or "/"
    for route in LEGACY:
        match = route.pattern.match(rest)
        if match:
            return route.target(method, match)
    return rest


@dataclass(frozen=True)
class Target:
    """A checked URL: the absolute path to dispatch, with its query string (no ``?``)."""

    path: str
    query: str

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


def resolve(tenant: str, method: str, relative_url: str) -> Target:
    """The path and query ``relative_url`` names for ``tenant``; ``NotFound`` or ``BadRequest``.

    The errors are what the operation's result reports, not a refusal of the batch.
    """
    if not relative_url.startswith("/"):
        raise NotFound(f"relativeUrl {relative_url!r} must start with /")
    path, has_query, query = relative_url.partition("?")
    if not PATH.match(path):
        raise NotFound(f"relativeUrl {relative_url!r} is not a valid URL path")
    segments = unquote(path).split("/")
    if any(s in {".", ".."} for s in segments):
        raise NotFound(f"relativeUrl {relative_url!r} may not hold . or .. segments")
    if has_query and not QUERY.match(query):
        raise BadRequest.fields([("relativeUrl", _query_problem(query))])
    mapped = map_path(method, path)
    if unquote(mapped).rstrip("/") == "/batch":
        raise NotFound("a batch operation cannot run another batch")
    return Target(f"/{tenant}/target{mapped}", query)


def _query_problem(query: str) -> str:
    for i, char in enumerate(query):
        if char == "%" and not re.match(_PCT, query[i : i + 3]):
            return f"the query string must be URL-encoded; {query[i : i + 3]!r} is not an escape"
        if char != "%" and not QUERY.match(char):
            return f"the query string must be URL-encoded; found {char!r}"
    return "the query string must be URL-encoded"

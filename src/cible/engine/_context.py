"""The decisioning context: what a rule's JSON Logic condition can read.

Built once per `decide` call from the delivery request, with the key names of Adobe's on-device
engines (`target_decisioning_engine/context_provider.py` and `types/decisioning_context.py` in
target-python-sdk 1.1.0; `contextProvider.js` in the Node SDK):

- `user.browserType`, `user.platform`, `user.locale` (always "en", as both SDKs), and
  `user.browserVersion`, from `context.userAgent` (see `_useragent.py`);
- `page.*` from `context.address.url` and `referring.*` from `context.address.referringUrl`:
  `url`, `domain`, `subdomain`, `topLevelDomain`, `path`, `query`, `fragment`, each with a
  lower-cased `*_lc` twin; an mbox request's own `address` replaces both for that mbox;
- `mbox.*` from the mbox's (or pageLoad's, or view's) `parameters`, dotted names unflattened
  (`a.b` → `mbox.a.b`), every string with a lower-cased `*_lc` twin;
- `geo.country`, `geo.region`, `geo.city`, `geo.latitude`, `geo.longitude` from `context.geo`;
- `current_timestamp` (ms since the epoch), `current_time` ("HHMM", UTC) and `current_day`
  (1 = Monday … 7 = Sunday), from the `now` argument only;
- `allocation`, per activity (see `_hashing.py`), set by the decision loop;
- `profile.*`, a Cible addition: the caller's profile attributes, then the request detail's
  `profileParameters`. Adobe's on-device artifacts never read it (profile audiences are decided
  on the edge); Cible's server-side decisions do.
- `segments.ids`, a Cible addition: the audience manager segment ids (strings) the visitor is
  in, from the request's `experienceCloud.audienceManager.segments`, where Cible's delivery API
  puts the segments it resolved server-side (it replaces whatever a client sent there). Adobe's
  edge resolves them from the same `experienceCloud.audienceManager` object (its `blob`).

Domains follow the Node SDK's `parseDomainPsl` (`@adobe/target-tools`, npm `psl`): the Public
Suffix List, private section included, gives the top-level domain (the public suffix, e.g.
`co.uk` or `us-east-1.elasticbeanstalk.com`) and the domain (the suffix and one label more); the
labels before it are the subdomain, a leading `www` label dropped. A host the list cannot parse
(an IP address, a single label, a suffix alone, a suffix the list does not know, a label with
characters a host name cannot hold) is its own domain, with no subdomain or top-level domain.
The list is the `publicsuffixlist` package's snapshot, pinned in pyproject.toml and read once,
on first use: the engine's one dependency outside the standard library (no download at run time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from cible.engine._useragent import parse_user_agent

__all__ = [
    "EVERY_ROOT",
    "base_context",
    "geo_context",
    "mbox_context",
    "page_context",
    "profile_context",
    "segments_context",
    "time_context",
    "timestamp_ms",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

_URL_KEYS = ("url", "path", "query", "fragment", "domain", "subdomain", "topLevelDomain")


@cache
def _suffix_list() -> PublicSuffixList:
    # Reading the list costs about 0.2 s: done on the first URL, not when the engine is imported.
    return PublicSuffixList(only_icann=False, accept_unknown=False)


def _is_host_name(host: str) -> bool:
    """What npm `psl`'s `validate` accepts: 1-63 character labels of letters, digits and inner
    hyphens, 255 characters at most, checked on the host's ASCII (punycode) form."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    if not ascii_host or len(ascii_host) > 255:
        return False
    for label in ascii_host.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not _LABEL.fullmatch(label):
            return False
    return True


_LABEL = re.compile(r"[a-z0-9-]+")


def _split_host(host: str) -> tuple[str, str, str]:
    """(domain, subdomain, topLevelDomain) for a lower-case host name."""
    if host.endswith("."):
        host = host[:-1]  # psl ignores one trailing dot
    if "." not in host or not _is_host_name(host):
        return host, "", ""
    suffixes = _suffix_list()
    top_level_domain = suffixes.publicsuffix(host)
    domain = suffixes.privatesuffix(host)
    if top_level_domain is None or domain is None:
        # psl.isValid: not a listed suffix, or the host is a public suffix itself.
        return host, "", ""
    subdomain_labels = host[: -len(domain)].split(".")[:-1]
    if subdomain_labels and subdomain_labels[0] == "www":
        subdomain_labels = subdomain_labels[1:]
    return domain, ".".join(subdomain_labels), top_level_domain


@lru_cache(maxsize=4096)
def _parse_url(url: str) -> tuple[tuple[str, str], ...]:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        empty = tuple((name, "") for key in _URL_KEYS[1:] for name in (key, f"{key}_lc"))
        return (("url", url), ("url_lc", url.lower()), *empty)
    domain, subdomain, top_level_domain = _split_host(host) if host else ("", "", "")
    values = (url, parts.path, parts.query, parts.fragment, domain, subdomain, top_level_domain)
    pairs: list[tuple[str, str]] = []
    for key, value in zip(_URL_KEYS, values, strict=True):
        pairs.append((key, value))
        pairs.append((f"{key}_lc", value.lower()))
    return tuple(pairs)


def page_context(url: Any) -> dict[str, str]:
    """The `page.*` (or `referring.*`) keys for a URL; an absent URL gives empty strings."""
    return dict(_parse_url(url if isinstance(url, str) else ""))


def _user_context(user_agent: Any) -> dict[str, Any]:
    browser, platform, version = parse_user_agent(user_agent if isinstance(user_agent, str) else "")
    return {"browserType": browser, "platform": platform, "locale": "en", "browserVersion": version}


def geo_context(geo: Any) -> dict[str, Any]:
    if not isinstance(geo, Mapping):
        return {}
    context: dict[str, Any] = {}
    for source, target in (
        ("countryCode", "country"),
        ("stateCode", "region"),
        ("city", "city"),
        ("latitude", "latitude"),
        ("longitude", "longitude"),
    ):
        value = geo.get(source)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            context[target] = value
    return context


def timestamp_ms(now: datetime) -> int:
    """Milliseconds since the epoch of an instant (naive means UTC)."""
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    return (moment - _EPOCH) // _MILLISECOND


def time_context(now: datetime) -> dict[str, Any]:
    """`current_timestamp`, `current_time` and `current_day` for an instant (naive means UTC)."""
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return {
        "current_timestamp": (moment - _EPOCH) // _MILLISECOND,
        "current_time": f"{moment.hour:02d}{moment.minute:02d}",
        "current_day": moment.isoweekday(),
    }


EVERY_ROOT = frozenset(
    {"user", "page", "referring", "geo", "mbox", "profile", "segments", "current_time"}
)
"""What `base_context` builds when told nothing: every part."""


def base_context(
    request_context: Mapping[str, Any], now: datetime | None, reads: frozenset[str] = EVERY_ROOT
) -> dict[str, Any]:
    """The context shared by every mbox and view of one request.

    `reads` names the roots the artifact's conditions read (`Artifact.reads`); parts no
    condition reads are left out (the clock variables count as one part).
    """
    address = request_context.get("address")
    if type(address) is not dict and not isinstance(address, Mapping):
        address = {}
    context: dict[str, Any] = {}
    if "user" in reads:
        context["user"] = _user_context(request_context.get("userAgent"))
    if "page" in reads:
        context["page"] = page_context(address.get("url"))
    if "referring" in reads:
        context["referring"] = page_context(address.get("referringUrl"))
    if "geo" in reads:
        context["geo"] = geo_context(request_context.get("geo"))
    if now is not None and not reads.isdisjoint(_TIME_ROOTS):
        context.update(time_context(now))
    return context


def segments_context(experience_cloud: Any) -> dict[str, Any]:
    """The `segments.*` keys: `ids`, from `experienceCloud.audienceManager.segments`."""
    audience_manager = (
        experience_cloud.get("audienceManager") if isinstance(experience_cloud, Mapping) else None
    )
    segments = audience_manager.get("segments") if isinstance(audience_manager, Mapping) else None
    if not isinstance(segments, list | tuple):
        return {"ids": []}
    return {"ids": [str(s) for s in segments if isinstance(s, str | int) and s is not True]}


_TIME_ROOTS = frozenset({"current_timestamp", "current_time", "current_day"})


def _set_nested(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        inner = target.setdefault(key, {})
        if not isinstance(inner, dict):
            return  # "a" is already a value; "a.b" cannot also be an object
        target = inner
    target[keys[-1]] = value


def _unflatten(parameters: Mapping[str, Any]) -> dict[str, Any]:
    # utils.py `unflatten`: "a.b" becomes {"a": {"b": …}} unless it has empty segments.
    result: dict[str, Any] = {}
    for key, value in parameters.items():
        if not isinstance(key, str):
            continue
        if "." in key and ".." not in key and not key.startswith(".") and not key.endswith("."):
            _set_nested(result, key.split("."), value)
        else:
            result[key] = value
    return result


def _with_lower_case(values: dict[str, Any]) -> dict[str, Any]:
    result = dict(values)
    for key, value in values.items():
        if isinstance(value, str):
            result[f"{key}_lc"] = value.lower()
        elif isinstance(value, dict):
            result[key] = _with_lower_case(value)
    return result


def mbox_context(parameters: Any) -> dict[str, Any]:
    """The `mbox.*` keys for a request detail's `parameters`."""
    if not parameters or (type(parameters) is not dict and not isinstance(parameters, Mapping)):
        return {}
    for key, value in parameters.items():
        # The common case, string names without dots and string values, needs no unflattening.
        if type(key) is not str or "." in key or type(value) is not str:
            return _with_lower_case(_unflatten(parameters))
    flat = dict(parameters)
    for key, value in parameters.items():
        flat[f"{key}_lc"] = value.lower()
    return flat


def profile_context(profile: Mapping[str, Any] | None, profile_parameters: Any) -> dict[str, Any]:
    """The `profile.*` keys: profile attributes, overridden by the request's profileParameters.

    Attribute names may carry Adobe's `profile.` prefix or not.
    """
    flat: dict[str, Any] = {}
    for source in (profile, profile_parameters):
        if isinstance(source, Mapping):
            for key, value in source.items():
                if isinstance(key, str):
                    flat[key.removeprefix("profile.")] = value
    return _unflatten(flat)

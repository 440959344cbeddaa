"""Compile approved A/B and Experience Targeting activities into Adobe's ``rules.json`` artifact.

Adobe's on-device SDKs decide from a static artifact: for each mbox an ordered list of rules, each
a JSON Logic ``condition`` over the request context and a ``consequence`` (the mbox response to
return). The SDK walks an mbox's list and stops at the first rule whose condition holds
(``target_decisioning_engine/decision_provider.py``, ``_process_mbox_request``), so the order *is*
the priority. This module writes that artifact from what the Admin API stores, following the
encodings of Adobe's own artifacts (adobe/target-nodejs-sdk, ``test/schema/artifacts/*.json``):

* A/B: one rule per experience and mbox, its band of the visitor's ``allocation`` (0-99.99, from
  MurmurHash3 of client, activity and visitor) written ``0 <= a <= 50`` for the first band and
  ``50 < a <= 100`` after; audiences and the schedule are ANDed with the band.
* XT (``activity.type`` ``"landing"`` in Adobe's artifacts): no band; one rule per experience in
  the activity's order, so the first experience whose audiences match wins; an experience without
  audiences is ``true``.
* Activities are ordered by ``priority``, highest first; equal priorities keep the input order.
* Views (single-page applications): a selector location (``locations.selectors``) in a view
  (``views``, found by ``viewLocalId``) gives one rule per experience under ``rules.views[<view
  name>]``, key ``<activity id>-<locationLocalId>``, ``location.type`` ``"view"``, its option an
  ``actions`` option whose ``setHtml`` action puts the offer's HTML at the selector, as in Adobe's
  ``TEST_ARTIFACT_VIEWS.json``; a selector without a view does the same on the page load (under
  the global mbox, as ``TEST_ARTIFACT_PAGELOAD_VEC_AB.json``). An experience that changes
  nothing in a view still gets one rule there, with no action, so its visitors' views are
  counted. The rule's ``metrics`` are the activity's click metrics on that view
  (``clickTrackSelectors``): ``{"type": "click", "selector", "eventToken"}``, the token naming the
  activity, experience and metric (``tokens.click_token``).
* An option of a recommendations offer is ``{"type": "recs", "content": {criteriaId, designId,
  ...}}``: the server renders it at delivery, so its activity is remote (below).
* An activity with an audience Adobe's on-device context cannot evaluate (profile, segments…)
  is left out, and its mboxes listed in ``remoteMboxes``: the SDK then answers 206 on-device and,
  in hybrid mode, sends the request to the server (``target_python_sdk/helper.py``,
  ``create_delivery_api``).

Everything here is a pure function of its arguments: no clock, no I/O.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cible.artifacts import _time
from cible.artifacts._audiences import AudienceBook
from cible.artifacts._reporting import KEY as REPORTING_KEY
from cible.artifacts._reporting import reporting_audiences
from cible.artifacts.errors import ArtifactError
from cible.artifacts.targeting import JsonLogic
from cible.artifacts.tokens import click_token, event_token

__all__ = [
    "ARTIFACT_VERSION",
    "DEFAULT_GLOBAL_MBOX",
    "DEFAULT_RESPONSE_TOKENS",
    "compile_artifact",
    "dump_artifact",
]

ARTIFACT_VERSION = "1.0.0"
DEFAULT_GLOBAL_MBOX = "target-global-mbox"
DEFAULT_RESPONSE_TOKENS: tuple[str, ...] = (
    "activity.id",
    "activity.name",
    "experience.id",
    "experience.name",
    "offer.id",
    "offer.name",
    "option.id",
    "option.name",
)

# Admin API offer types -> delivery API option types (delivery_api_client OptionType).
_OPTION_TYPES = {"content": "html", "html": "html", "json": "json", "redirect": "redirect"}
_ACTIVITY_TYPES = {"ab": "ab", "xt": "landing"}
# A recommendations offer's option type inside server-side artifacts only (docs/recommendations.md).
RECS_OPTION = "recs"
_RECS_FIELDS = ("criteriaId", "designId", "collectionId", "promotions")
_ALLOCATION = {"var": "allocation"}
_NOW = {"var": "current_timestamp"}


def compile_artifact(
    *,
    client: str,
    environment: str,
    activities: Sequence[Mapping[str, Any]],
    offers: Mapping[int, Mapping[str, Any]],
    audiences: Mapping[int, Mapping[str, Any]],
    generated_at: datetime,
    response_tokens: Sequence[str] = DEFAULT_RESPONSE_TOKENS,
    global_mbox: str = DEFAULT_GLOBAL_MBOX,
    geo_targeting_enabled: bool | None = None,
    organization_id: str | None = None,
    known_mboxes: Iterable[str] = (),
    include_remote: bool = False,
    token_secret: bytes | None = None,
) -> dict[str, Any]:
    """The ``rules.json`` artifact for one client and environment.

    ``activities`` are Admin API ``ABActivity`` objects plus ``id`` and ``type`` (``"ab"`` or
    ``"xt"``); only ``state == "approved"`` ones that have not ended by ``generated_at`` are
    compiled. ``offers`` and ``audiences`` map ids to Admin API offers and audiences.
    ``geo_targeting_enabled=None`` sets the flag when a compiled rule reads ``geo.*``.
    ``known_mboxes`` adds mbox names without activities to ``localMboxes`` so the SDK need not
    ask the server about them. ``include_remote=True`` keeps the rules of remote activities (for
    a server-side engine that has the profile; never serve that artifact to an SDK).
    Raises ``ArtifactError`` (or its ``TargetRuleError``) naming the offending field.
    """
    at = generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    book = AudienceBook(audiences, at)
    compiled: list[_Compiled] = []
    reporting: list[tuple[str, Mapping[str, Any]]] = []
    for index, activity in enumerate(activities):
        path = f"activities[{index}]"
        if not isinstance(activity, Mapping):
            raise ArtifactError(path, "an activity is an object")
        if activity.get("state") != "approved":
            continue
        result = _compile_activity(activity, path, offers, book, at, token_secret, global_mbox)
        if result is not None:
            compiled.append(result)
            reporting.append((path, activity))
    compiled.sort(key=lambda item: -item.priority)  # stable: ties keep the input order

    rules: dict[str, dict[str, list[dict[str, Any]]]] = {"mboxes": {}, "views": {}}
    local = {"mboxes": set(known_mboxes) | {global_mbox}, "views": set()}
    remote: dict[str, set[str]] = {"mboxes": set(), "views": set()}
    uses_geo = False
    for item in compiled:
        for kind, name, _ in item.rules:
            (remote if item.remote else local)[kind].add(name)
        if item.remote and not include_remote:
            continue
        uses_geo = uses_geo or item.uses_geo
        for kind, name, rule in item.rules:
            rules[kind].setdefault(name, []).append(rule)

    meta: dict[str, Any] = {"clientCode": client, "environment": environment}
    if organization_id is not None:
        meta["organizationId"] = organization_id
    meta["generatedAt"] = _iso(at)
    server_only: dict[str, Any] = {}
    if include_remote:
        # Reporting audiences ride in the server's artifact only (cible.artifacts._reporting).
        found = reporting_audiences(reporting, book)
        if found:
            server_only[REPORTING_KEY] = found
    return {
        "version": ARTIFACT_VERSION,
        "meta": meta,
        "globalMbox": global_mbox,
        "geoTargetingEnabled": uses_geo if geo_targeting_enabled is None else geo_targeting_enabled,
        "responseTokens": list(response_tokens),
        "remoteMboxes": sorted(remote["mboxes"]),
        "localMboxes": sorted(local["mboxes"]),
        "remoteViews": sorted(remote["views"]),
        "localViews": sorted(local["views"]),
        "rules": {
            kind: {name: found[name] for name in sorted(found)} for kind, found in rules.items()
        },
        **server_only,
    }


def dump_artifact(artifact: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; equal artifacts give equal bytes (ETags, CDN caching)."""
    text = json.dumps(artifact, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


@dataclass
class _Compiled:
    priority: int
    remote: bool
    uses_geo: bool
    # (``"mboxes"`` or ``"views"``, location name, rule)
    rules: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class _Location:
    local_id: int
    name: str
    audiences: list[tuple[int, str]]  # (audience id, field path for errors)
    rule_key: str


@dataclass(frozen=True)
class _Selector:
    local_id: int
    selector: str
    view_id: int | None  # the view's viewLocalId; None: the page load
    audiences: list[tuple[int, str]]


@dataclass(frozen=True)
class _View:
    name: str
    audiences: list[tuple[int, str]]


@dataclass(frozen=True)
class _Click:
    metric_id: int
    selector: str
    view_id: int | None


def _compile_activity(
    activity: Mapping[str, Any],
    path: str,
    offers: Mapping[int, Mapping[str, Any]],
    book: AudienceBook,
    at: datetime,
    token_secret: bytes | None,
    global_mbox: str = DEFAULT_GLOBAL_MBOX,
) -> _Compiled | None:
    activity_id = _int(activity.get("id"), f"{path}.id")
    kind = activity.get("type")
    if kind not in _ACTIVITY_TYPES:
        raise ArtifactError(f"{path}.type", f"type is 'ab' or 'xt', not {kind!r}")
    name = activity.get("name")
    if not isinstance(name, str):
        raise ArtifactError(f"{path}.name", "name is a string")
    priority = _int(activity.get("priority", 5), f"{path}.priority")
    schedule = _schedule(activity, path, at)
    entry = activity.get("entryConstraint") or {}
    entry_share = entry.get("visitorPercentage", 100) if isinstance(entry, Mapping) else 100
    if not _is_number(entry_share) or not 0 <= entry_share <= 100:
        raise ArtifactError(f"{path}.entryConstraint.visitorPercentage", "a number 0-100")
    if schedule is None or entry_share == 0:
        return None

    options = _by_local_id(activity.get("options"), "optionLocalId", f"{path}.options")
    locations = _locations(activity, activity_id, path)
    selectors = _selectors(activity, path)
    views = _views(activity, path)
    clicks = _clicks(activity, path)
    experiences = _list(activity.get("experiences"), f"{path}.experiences")
    if not experiences:
        raise ArtifactError(f"{path}.experiences", "an activity needs at least one experience")
    if kind == "ab":
        bands = _ab_bands(experiences, entry_share, f"{path}.experiences")
    else:
        bands = [_band(0, entry_share) if entry_share < 100 else None] * len(experiences)

    # Auto-allocate activities are decided server-side, where each visitor's assignment is
    # kept: their weights change hourly and only new visitors may move (docs/reports.md).
    auto = activity.get("autoAllocate")
    remote = isinstance(auto, Mapping) and auto.get("enabled") is True
    result = _Compiled(priority, remote=remote, uses_geo=False)
    seen: set[int] = set()
    for e, experience in enumerate(experiences):
        epath = f"{path}.experiences[{e}]"
        if not isinstance(experience, Mapping):
            raise ArtifactError(epath, "an experience is an object")
        experience_id = _int(experience.get("experienceLocalId"), f"{epath}.experienceLocalId")
        if experience_id in seen:
            raise ArtifactError(f"{epath}.experienceLocalId", f"{experience_id} is used twice")
        seen.add(experience_id)
        if bands[e] is False:
            continue  # 0 % of the traffic
        placed = _placements(experience, epath)
        token = event_token(activity_id, experience_id, secret=token_secret)
        own = _ids(experience.get("audienceIds"), f"{epath}.audienceIds")
        own_refs = [(aid, f"{epath}.audienceIds[{j}]") for j, aid in enumerate(own)]
        for location in locations:
            ids, condition = _condition(
                location.audiences + own_refs, bands[e], schedule, book, result
            )
            meta: dict[str, Any] = {
                "activity.id": activity_id,
                "activity.name": name,
                "activity.type": _ACTIVITY_TYPES[kind],
                "experience.id": experience_id,
                "experience.name": str(experience.get("name", "")),
                "location.name": location.name,
                "location.type": "mbox",
                "location.id": location.local_id,
                "audience.ids": ids,
            }
            if remote:
                # Read by the delivery API, which counts notifications of auto-allocate
                # activities as they come (docs/security.md, "Notifications").
                meta["activity.autoAllocate"] = True
            option_id = placed.get(location.local_id)
            if option_id is None:
                # The experience shows default content here: the rule still claims the visitor
                # (no fall-through to lower priorities) and its token counts the impression.
                option: dict[str, Any] = {"type": "html", "eventToken": token, "content": ""}
            else:
                option = _option(option_id, options, offers, token, meta, path)
                result.remote = result.remote or option["type"] == RECS_OPTION
            rule = {
                "ruleKey": location.rule_key,
                "activityId": activity_id,
                "meta": meta,
                "condition": condition,
                "consequence": {"name": location.name, "options": [option], "metrics": []},
            }
            result.rules.append(("mboxes", location.name, rule))
        changed = {s.view_id for s in selectors if s.local_id in placed}
        for k, selector in enumerate(selectors):
            option_id = placed.get(selector.local_id)
            first_of_view = all(other.view_id != selector.view_id for other in selectors[:k])
            if option_id is None and not (first_of_view and selector.view_id not in changed):
                continue  # one rule without action per view the experience leaves unchanged
            view = views[selector.view_id] if selector.view_id is not None else None
            where = global_mbox if view is None else view.name
            audiences = (view.audiences if view else []) + selector.audiences + own_refs
            ids, condition = _condition(audiences, bands[e], schedule, book, result)
            meta = {
                "activity.id": activity_id,
                "activity.name": name,
                "activity.type": _ACTIVITY_TYPES[kind],
                "experience.id": experience_id,
                "experience.name": str(experience.get("name", "")),
                "location.name": where,
                "location.type": "view",
                "location.id": selector.local_id,
                "audience.ids": ids,
            }
            actions: list[dict[str, Any]] = []
            if option_id is not None:
                html = _option(option_id, options, offers, token, meta, path)
                if html["type"] != "html":
                    raise ArtifactError(
                        f"{epath}.optionLocations",
                        f"selector {selector.local_id} shows option {option_id}, whose offer "
                        "is not HTML content",
                    )
                actions.append(
                    {
                        "type": "setHtml",
                        "selector": selector.selector,
                        "cssSelector": selector.selector,
                        "content": html["content"],
                    }
                )
            metrics = [
                {
                    "type": "click",
                    "selector": click.selector,
                    "eventToken": click_token(
                        activity_id, experience_id, click.metric_id, secret=token_secret
                    ),
                }
                for click in clicks
                if click.view_id == selector.view_id
            ]
            rule = {
                "ruleKey": f"{activity_id}-{selector.local_id}",
                "activityId": activity_id,
                "meta": meta,
                "condition": condition,
                "consequence": {
                    "name": where,
                    "options": [{"type": "actions", "eventToken": token, "content": actions}],
                    "metrics": metrics,
                },
            }
            result.rules.append(("mboxes" if view is None else "views", where, rule))
    return result


def _condition(
    audiences: list[tuple[int, str]],
    band: JsonLogic | None,
    schedule: list[JsonLogic],
    book: AudienceBook,
    result: _Compiled,
) -> tuple[list[int], JsonLogic]:
    """The audience ids of a rule and its condition: band, audiences, schedule (in that order);
    notes on ``result`` whether an audience is remote or reads ``geo.*``."""
    refs = dict(reversed(audiences))  # first path of each id
    ids = list(dict.fromkeys(aid for aid, _ in audiences))
    translations = [book.get(aid, refs[aid]) for aid in ids]
    result.remote = result.remote or any(t.remote for t in translations)
    result.uses_geo = result.uses_geo or any(
        v.startswith("geo.") for t in translations for v in t.variables
    )
    parts = [] if band is None else [band]
    parts += [t.logic for t in translations] + schedule
    condition: JsonLogic = True if not parts else parts[0] if len(parts) == 1 else {"and": parts}
    return ids, condition


def _schedule(activity: Mapping[str, Any], path: str, at: datetime) -> list[JsonLogic] | None:
    """The ``current_timestamp`` bounds of the activity; ``None`` once it has ended."""
    starts = _instant(activity.get("startsAt"), f"{path}.startsAt")
    ends = _instant(activity.get("endsAt"), f"{path}.endsAt")
    if starts is not None and ends is not None and ends <= starts:
        raise ArtifactError(f"{path}.endsAt", "endsAt is before startsAt")
    if ends is not None and ends <= at:
        return None
    if starts is not None and ends is not None:
        return [{"<=": [_time.epoch_millis(starts), _NOW, _time.epoch_millis(ends)]}]
    if starts is not None:
        return [{"<=": [_time.epoch_millis(starts), _NOW]}]
    if ends is not None:
        return [{">=": [_time.epoch_millis(ends), _NOW]}]
    return []


def _locations(activity: Mapping[str, Any], activity_id: int, path: str) -> list[_Location]:
    container = activity.get("locations") or {}
    if not isinstance(container, Mapping):
        raise ArtifactError(f"{path}.locations", "locations is an object")
    found: list[tuple[int, str, list[tuple[int, str]]]] = []
    for i, location in enumerate(_list(container.get("mboxes"), f"{path}.locations.mboxes")):
        lpath = f"{path}.locations.mboxes[{i}]"
        name = _location_name(location, lpath)
        local_id = _int(location.get("locationLocalId", i), f"{lpath}.locationLocalId")
        ids = _ids(location.get("audienceIds"), f"{lpath}.audienceIds")
        found.append(
            (local_id, name, [(a, f"{lpath}.audienceIds[{j}]") for j, a in enumerate(ids)])
        )
    names = [name for _, name, _ in found]
    # One key per activity, as Adobe's artifacts; an mbox listed twice needs one per location
    # or the SDK's per-key deduplication on the global mbox would drop the second.
    return [
        _Location(
            local_id,
            name,
            audiences,
            f"{activity_id}-{local_id}" if names.count(name) > 1 else str(activity_id),
        )
        for local_id, name, audiences in found
    ]


def _selectors(activity: Mapping[str, Any], path: str) -> list[_Selector]:
    container = activity.get("locations") or {}
    if not isinstance(container, Mapping):
        raise ArtifactError(f"{path}.locations", "locations is an object")
    found: list[_Selector] = []
    for spath, item in _objects(container.get("selectors"), f"{path}.locations.selectors"):
        ids = _ids(item.get("audienceIds"), f"{spath}.audienceIds")
        found.append(
            _Selector(
                _int(item.get("locationLocalId"), f"{spath}.locationLocalId"),
                _text(item.get("selector"), f"{spath}.selector"),
                _optional_int(item.get("viewLocalId"), f"{spath}.viewLocalId"),
                [(a, f"{spath}.audienceIds[{j}]") for j, a in enumerate(ids)],
            )
        )
    return found


def _views(activity: Mapping[str, Any], path: str) -> dict[int, _View]:
    found: dict[int, _View] = {}
    for vpath, item in _objects(activity.get("views"), f"{path}.views"):
        ids = _ids(item.get("audienceIds"), f"{vpath}.audienceIds")
        found[_int(item.get("viewLocalId"), f"{vpath}.viewLocalId")] = _View(
            _text(item.get("name"), f"{vpath}.name"),
            [(a, f"{vpath}.audienceIds[{j}]") for j, a in enumerate(ids)],
        )
    selectors = activity.get("locations") or {}
    for i, item in enumerate(selectors.get("selectors") or []):
        view_id = item.get("viewLocalId") if isinstance(item, Mapping) else None
        if view_id is not None and view_id not in found:
            raise ArtifactError(
                f"{path}.locations.selectors[{i}].viewLocalId", f"no view {view_id}"
            )
    return found


def _clicks(activity: Mapping[str, Any], path: str) -> list[_Click]:
    """The click-tracked selectors of every metric, in metric order."""
    found: list[_Click] = []
    for mpath, metric in _objects(activity.get("metrics"), f"{path}.metrics"):
        items = _list(metric.get("clickTrackSelectors"), f"{mpath}.clickTrackSelectors")
        if not items:
            continue
        metric_id = _int(metric.get("metricLocalId"), f"{mpath}.metricLocalId")
        for cpath, item in _objects(items, f"{mpath}.clickTrackSelectors"):
            found.append(
                _Click(
                    metric_id,
                    _text(item.get("selector"), f"{cpath}.selector"),
                    _optional_int(item.get("viewLocalId"), f"{cpath}.viewLocalId"),
                )
            )
    return found


def _placements(experience: Mapping[str, Any], path: str) -> dict[int, int]:
    """``{locationLocalId: optionLocalId}`` of one experience."""
    placed: dict[int, int] = {}
    for lpath, link in _objects(experience.get("optionLocations"), f"{path}.optionLocations"):
        location_id = _int(link.get("locationLocalId"), f"{lpath}.locationLocalId")
        placed[location_id] = _int(link.get("optionLocalId"), f"{lpath}.optionLocalId")
    return placed


def _option(
    option_id: int,
    options: Mapping[int, tuple[int, Mapping[str, Any]]],
    offers: Mapping[int, Mapping[str, Any]],
    token: str,
    meta: dict[str, Any],
    path: str,
) -> dict[str, Any]:
    if option_id not in options:
        raise ArtifactError(f"{path}.options", f"no option has optionLocalId {option_id}")
    index, option = options[option_id]
    offer_id = _int(option.get("offerId"), f"{path}.options[{index}].offerId")
    offer = offers.get(offer_id)
    if not isinstance(offer, Mapping):
        raise ArtifactError(f"{path}.options[{index}].offerId", f"unknown offer {offer_id}")
    offer_type = offer.get("type", "content")
    if offer_type == RECS_OPTION:
        # Recommendations are rendered by the server at delivery (cible.recs.serving): the
        # option carries what to render, and the activity is remote (never sent to an SDK).
        meta["offer.id"] = offer_id
        meta["offer.name"] = str(offer.get("name", ""))
        meta["option.id"] = option_id
        meta["option.name"] = str(option.get("name", ""))
        for required in ("criteriaId", "designId"):
            _int(offer.get(required), f"offers[{offer_id}].{required}")
        recs = {k: offer[k] for k in _RECS_FIELDS if offer.get(k) is not None}
        return {"type": RECS_OPTION, "eventToken": token, "content": {**recs, "offerId": offer_id}}
    if offer_type not in _OPTION_TYPES:
        raise ArtifactError(f"offers[{offer_id}].type", f"unsupported offer type {offer_type!r}")
    content = offer.get("content")
    if offer_type == "json" and isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError as exc:
            raise ArtifactError(f"offers[{offer_id}].content", f"invalid JSON: {exc}") from None
    meta["offer.id"] = offer_id
    meta["offer.name"] = str(offer.get("name", ""))
    meta["option.id"] = option_id
    meta["option.name"] = str(option.get("name", ""))
    return {"type": _OPTION_TYPES[offer_type], "eventToken": token, "content": content}


def _ab_bands(experiences: list[Any], share: float, path: str) -> list[JsonLogic]:
    """Allocation conditions per experience (``False`` for a 0 % experience)."""
    written = [e.get("visitorPercentage") if isinstance(e, Mapping) else None for e in experiences]
    if all(s is None for s in written):
        count = len(experiences)
        bounds = [100 * k / count for k in range(count + 1)]
    else:
        shares: list[float] = []
        for i, s in enumerate(written):
            if not isinstance(s, int | float) or isinstance(s, bool) or s < 0:
                raise ArtifactError(f"{path}[{i}].visitorPercentage", "a number 0-100")
            shares.append(s)
        if abs(sum(shares) - 100) > 1e-9:
            raise ArtifactError(path, f"visitorPercentage values sum to {sum(shares)}, not 100")
        bounds = [0.0]
        for s in shares:
            bounds.append(bounds[-1] + s)
    scale = share / 100
    bands: list[JsonLogic] = []
    for low, high in itertools.pairwise(bounds):
        bands.append(False if high <= low else _band(low * scale, high * scale))
    return bands


def _band(low: float, high: float) -> JsonLogic:
    # Adobe: first band {"<=": [0, a]} & {">=": [50, a]}, later ones {"<": [50, a]} & ...
    low_test = "<=" if low == 0 else "<"
    return {"and": [{low_test: [_number(low), _ALLOCATION]}, {">=": [_number(high), _ALLOCATION]}]}


def _number(value: float) -> int | float:
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArtifactError(path, f"expected an integer, got {value!r}")
    return value


def _optional_int(value: object, path: str) -> int | None:
    return None if value is None else _int(value, path)


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ArtifactError(path, "expected a non-empty string")
    return value


def _ids(value: object, path: str) -> list[int]:
    return [_int(v, f"{path}[{i}]") for i, v in enumerate(_list(value, path))]


def _list(value: object, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArtifactError(path, "expected an array")
    return value


def _objects(value: object, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each item of the array ``value`` with its path; an item that is not an object is an
    ``ArtifactError`` at its path."""
    for i, item in enumerate(_list(value, path)):
        if not isinstance(item, Mapping):
            raise ArtifactError(f"{path}[{i}]", "expected an object")
        yield f"{path}[{i}]", item


def _by_local_id(value: object, key: str, path: str) -> dict[int, tuple[int, Mapping[str, Any]]]:
    """``{local id: (index, item)}``; the index names the item in error paths."""
    found: dict[int, tuple[int, Mapping[str, Any]]] = {}
    for i, (ipath, item) in enumerate(_objects(value, path)):
        found[_int(item.get(key), f"{ipath}.{key}")] = (i, item)
    return found


def _location_name(location: object, path: str) -> str:
    if not isinstance(location, Mapping):
        raise ArtifactError(path, "a location is an object")
    name = location.get("name")
    if not isinstance(name, str) or not name:
        raise ArtifactError(f"{path}.name", "an mbox location needs a name")
    return name


def _instant(value: object, path: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return _time.parse_instant(value)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(path, f"not an ISO 8601 date-time: {exc}") from None


def _iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

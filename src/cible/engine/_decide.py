"""`decide`: one delivery request in, one delivery response out, with its reasons.

The flow follows Adobe's on-device engine (`target_decisioning_engine/decision_provider.py` and
`rule_evaluator.py` in target-python-sdk 1.1.0; `decisionProvider.js` in the Node SDK):

- a regular mbox takes the first rule, in artifact order, whose condition holds;
- the global mbox (what `pageLoad` decides) and views take every rule that holds, but only the
  first of each `ruleKey`: an experience-targeting activity has one rule per experience, in
  audience order, under one key, so the first audience a visitor qualifies for wins;
- rules with `propertyTokens` apply only to requests carrying one of those property tokens;
- executed options lose their `eventToken` and keep click metrics; executed decisions produce
  display notifications for the caller to send; prefetched options keep their `eventToken`.

Deliberate differences from Adobe's Python SDK, each a choice a caller would expect:

- `pageLoad` is decided only when the request has one (the Python SDK always decides it);
- an mbox request naming the global mbox gets one response entry with every matching option;
- an mbox request's own `address.referringUrl` sets `referring.*` (the SDKs reuse its url);
- no clock, no random visitor id: see `decide`'s docstring.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cible.engine._artifact import Artifact, Rule, reads_time
from cible.engine._context import (
    EVERY_ROOT,
    base_context,
    geo_context,
    mbox_context,
    page_context,
    profile_context,
    segments_context,
    timestamp_ms,
)
from cible.engine._hashing import allocation_for, allocation_visitor
from cible.engine._jsonlogic import DYNAMIC_VARIABLE
from cible.engine._options import GEO_TOKENS, build_options, common_tokens, copy_json
from cible.engine._plan import Plan, plan_for

__all__ = ["EXTRA_KEY", "decide"]

EXTRA_KEY = "cible"
"""The result key holding what is not part of Adobe's delivery response (see docs/engine.md)."""

MATCHED = "matched"
NOT_MET = "condition not met"
SKIPPED_PROPERTY = "skipped: rule belongs to other properties"
SKIPPED_DECIDED = "skipped: activity already decided for this location"
CONDITION_ERROR = "condition could not be evaluated"


def decide(
    artifact: Artifact,
    request: Any,
    *,
    profile: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    client: str | None = None,
    trace: bool = False,
) -> dict[str, Any]:
    """Decide a delivery request against an artifact; never raises on request data.

    `request` is an Adobe delivery request as a dict (`context`, `id`, `property`, `execute`,
    `prefetch`). The result is an Adobe delivery response dict (`status`, `requestId`,
    `client`, `id`, `execute`, `prefetch`) plus `result["cible"]`: `reasons`, `decided`,
    `notifications`, `remoteMboxes`, `remoteViews` (see docs/engine.md).

    - `trace=True` evaluates every rule in full and lists each one in the reasons with why it
      matched or not; without it, rules that cannot match are skipped and the reasons list only
      the matched rules (`decided` lists them too, as structured data). Decisions are the same.

    - `now` is the decision instant (naive means UTC). The engine never reads the clock: with
      `now=None`, the clock variables are absent, so every time-bound condition (activity start
      and end dates, day and time audiences) is false, and a reason says so.
    - `client` is the tenant's client code, hashed into allocations; it defaults to the
      artifact's `meta.clientCode`.
    - The visitor is `id.marketingCloudVisitorId`, else `id.tntId` without its `.suffix`, else
      `id.thirdPartyId`. With none, `allocation` is absent and every traffic-split condition is
      false; callers give new visitors an id first (Cible's server and SDK generate a tntId).
    - `profile` holds profile attributes for `profile.*` conditions; a rule reading them when
      no profile is given makes its mbox or view "remote" (decide it server-side).

    >>> from cible.engine import load_artifact
    >>> artifact = load_artifact({"version": "1.0.0", "localMboxes": ["home"]})
    >>> result = decide(artifact, {"context": {"channel": "web"},
    ...                            "execute": {"mboxes": [{"name": "home", "index": 1}]}})
    >>> result["execute"]["mboxes"]
    [{'index': 1, 'name': 'home'}]
    """
    if not isinstance(artifact, Artifact):
        raise TypeError("decide() needs an Artifact from load_artifact()")
    if not trace and type(request) is dict:
        try:
            flat = _flat(artifact, request, profile, now, client)
        except Exception:  # the general path decides it, and reports any error
            flat = None
        if flat is not None:
            return flat
    decision = _Decision(artifact, profile, now, client, trace)
    try:
        return decision.run(request)
    except Exception as error:  # the engine never raises on a request; this is a safety net
        return decision.failed(request, error)


class _Decision:
    def __init__(
        self, artifact: Artifact, profile: Any, now: Any, client: Any, trace: bool
    ) -> None:
        self.artifact = artifact
        self.tracing = trace
        reads = artifact.reads
        self.reads = EVERY_ROOT if DYNAMIC_VARIABLE in reads or "" in reads else reads
        self.reasons: list[dict[str, Any]] = []
        self.decided: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.remote_mboxes: set[str] = set()
        self.remote_views: set[str] = set()
        self.allocations: dict[Any, float] = {}
        self.notified: set[tuple[str, str]] = set()
        self.visitor_id: str | None = None
        self.property_token: str | None = None
        self.notification_prefix = "notification"
        self.context: dict[str, Any] = {}
        self.tokens: dict[str, Any] = {}
        if now is not None and not isinstance(now, datetime):
            self.note("'now' is not a datetime; time-bound conditions are false")
            now = None
        self.now: datetime | None = now
        if profile is not None and not (type(profile) is dict or isinstance(profile, Mapping)):
            self.note("'profile' is not a mapping; ignored")
            profile = None
        self.profile: Mapping[str, Any] | None = profile
        if client is not None and not isinstance(client, str):
            self.note("'client' is not a string; the artifact's client code is used")
            client = None
        self.client: str = client or artifact.client_code or ""

    def note(self, message: str) -> None:
        self.reasons.append({"scope": "request", "message": message})

    # -- request level -----------------------------------------------------------------------

    def run(self, request: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"status": 200}
        if not (type(request) is dict or isinstance(request, Mapping)):
            self.note("request is not an object; nothing decided")
            return self.finish(result)
        request_id = request.get("requestId")
        if isinstance(request_id, str) and request_id:
            result["requestId"] = request_id
            self.notification_prefix = request_id
        if self.client:
            result["client"] = self.client
        else:
            self.note("no client code (argument or artifact meta.clientCode); allocations use ''")
        self.read_ids(request.get("id"), result)
        context = request.get("context")
        if not (type(context) is dict or isinstance(context, Mapping)):
            self.note("request has no 'context' object; decided with an empty context")
            context = {}
        if self.now is None:
            self.note("'now' not given; time-bound conditions are false")
        self.context = base_context(context, self.now, self.reads)
        if "segments" in self.reads:
            self.context["segments"] = segments_context(request.get("experienceCloud"))
        enabled = self.artifact.response_tokens
        if not enabled.isdisjoint(_GEO_TOKEN_NAMES):
            geo = self.context.get("geo")
            if geo is None:
                geo = geo_context(context.get("geo"))
            self.tokens = common_tokens(geo, enabled)
        else:
            self.tokens = _METHOD_TOKENS
        prop = request.get("property")
        if prop is not None and (type(prop) is dict or isinstance(prop, Mapping)):
            token = prop.get("token")
            if isinstance(token, str):
                self.property_token = token
        self.find_remote(request)
        for mode in ("execute", "prefetch"):
            if mode not in request or request[mode] is None:
                continue
            block = request[mode]
            if not (type(block) is dict or isinstance(block, Mapping)):
                self.note(f"'{mode}' is not an object; ignored")
                continue
            result[mode] = self.decide_mode(mode, block)
        return self.finish(result)

    def read_ids(self, ids: Any, result: dict[str, Any]) -> None:
        if ids is None:
            ids = {}
        if not (type(ids) is dict or isinstance(ids, Mapping)):
            self.note("'id' is not an object; no visitor id")
            return
        result["id"] = {k: v for k, v in ids.items() if type(k) is str or isinstance(k, str)}
        self.visitor_id = allocation_visitor(ids)
        if self.visitor_id is None:
            self.note("no visitor id (marketingCloudVisitorId, tntId, thirdPartyId); no allocation")

    def find_remote(self, request: Mapping[str, Any]) -> None:
        # utils.py `has_remote_dependency`: requested views the artifact cannot decide (requested
        # mboxes are checked as `decide_mbox` reads them).
        artifact = self.artifact
        view_names: set[str] = set()
        views_requested = False
        for mode in ("execute", "prefetch"):
            block = request.get(mode)
            if not (type(block) is dict or isinstance(block, Mapping)):
                continue
            views = block.get("views")
            if isinstance(views, list) and views:
                views_requested = True
                view_names.update(_names(views))
        if views_requested and not view_names:
            self.remote_views.update(artifact.remote_views)
        for name in view_names:
            if name in artifact.remote_views or name not in artifact.local_views:
                self.remote_views.add(name)

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        remote_mboxes, remote_views = self.remote_mboxes, self.remote_views
        if remote_mboxes or remote_views:
            result["status"] = 206  # decision_provider.py: PARTIAL_CONTENT when remote is needed
        result[EXTRA_KEY] = {
            "reasons": self.reasons,
            "decided": self.decided,
            "notifications": self.notifications,
            "remoteMboxes": sorted(remote_mboxes) if remote_mboxes else [],
            "remoteViews": sorted(remote_views) if remote_views else [],
        }
        return result

    def failed(self, request: Any, error: Exception) -> dict[str, Any]:
        self.reasons = [
            {"scope": "request", "message": f"engine error, nothing decided: {error!r}"}
        ]
        self.notifications = []
        self.decided = []
        result: dict[str, Any] = {"status": 200}
        if (type(request) is dict or isinstance(request, Mapping)) and isinstance(
            request.get("requestId"), str
        ):
            result["requestId"] = request["requestId"]
        return self.finish(result)

    # -- per mode ------------------------------------------------------------------------------

    def decide_mode(self, mode: str, block: Mapping[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = {}
        execute = mode == "execute"
        mboxes = block.get("mboxes")
        if mboxes is not None:
            if isinstance(mboxes, list):
                entries = []
                for position, detail in enumerate(mboxes):
                    entry = self.decide_mbox(mode, detail, position)
                    if entry is not None:
                        entries.append(entry)
                response["mboxes"] = entries
            else:
                self.note(f"'{mode}.mboxes' is not an array; ignored")
        views = block.get("views")
        if views is not None and execute:
            self.note("'execute.views' is not part of the delivery API; views are prefetched")
        elif views is not None:
            if isinstance(views, list):
                response["views"] = self.decide_views(views)
            else:
                self.note("'prefetch.views' is not an array; ignored")
        page_load = block.get("pageLoad")
        if page_load is not None:
            if type(page_load) is dict or isinstance(page_load, Mapping):
                response["pageLoad"] = self.decide_page_load(mode, page_load)
            else:
                self.note(f"'{mode}.pageLoad' is not an object; ignored")
        return response

    def detail_context(self, detail: Mapping[str, Any]) -> dict[str, Any]:
        return _detail_context(self.context, detail, self.reads, self.profile)

    def decide_mbox(self, mode: str, detail: Any, position: int) -> dict[str, Any] | None:
        if not (type(detail) is dict or isinstance(detail, Mapping)):
            self.note(f"'{mode}.mboxes[{position}]' is not an object; ignored")
            return None
        name = detail.get("name")
        if not isinstance(name, str) or not name:
            self.note(f"'{mode}.mboxes[{position}]' has no name; ignored")
            return None
        artifact = self.artifact
        if name in artifact.remote_mboxes or name not in artifact.local_mboxes:
            self.remote_mboxes.add(name)
        index = detail.get("index")
        response: dict[str, Any] = {}
        if isinstance(index, int) and not isinstance(index, bool):
            response["index"] = index
        response["name"] = name
        collect_all = name == artifact.global_mbox
        rules = artifact.mbox_rules.get(name, ())
        context = self.detail_context(detail)
        trace = self.trace(mode, "mbox", name, response.get("index"))
        matched = self.evaluate(rules, context, collect_all, trace, remote=self.remote_mboxes)
        self.fill(response, mode, matched, detail, name, page_load=False)
        return response

    def decide_page_load(self, mode: str, detail: Mapping[str, Any]) -> dict[str, Any]:
        name = self.artifact.global_mbox
        context = self.detail_context(detail)
        trace = self.trace(mode, "pageLoad", name, None)
        rules = self.artifact.mbox_rules.get(name, ())
        matched = self.evaluate(rules, context, True, trace, remote=self.remote_mboxes)
        response: dict[str, Any] = {}
        # decisionProvider.js decides pageLoad as the global mbox: `${mbox.name}` in its offers
        # reads the global mbox's name.
        self.fill(response, mode, matched, {**detail, "name": name}, name, page_load=True)
        return response

    def decide_views(self, requests: list[Any]) -> list[dict[str, Any]]:
        by_name: dict[str, dict[str, Any]] = {}
        for position, detail in enumerate(requests):
            if not (type(detail) is dict or isinstance(detail, Mapping)):
                self.note(f"'prefetch.views[{position}]' is not an object; ignored")
                continue
            name = detail.get("name")
            if isinstance(name, str) and name:
                candidates: Iterable[tuple[str, tuple[Rule, ...]]] = [
                    (name, self.artifact.view_rules.get(name, ()))
                ]
            else:
                candidates = self.artifact.view_rules.items()
            context = self.detail_context(detail)
            decided: set[str] = set()
            for view_name, rules in candidates:
                trace = self.trace("prefetch", "view", view_name, None)
                matched = self.evaluate(rules, context, True, trace, self.remote_views, decided)
                for rule in matched:
                    # decisionProvider.js: a view keeps every metric of every matched rule (click
                    # metrics with their event tokens), `[]` when there are none.
                    entry = by_name.setdefault(
                        rule.consequence_name or view_name,
                        {"name": rule.consequence_name or view_name, "options": [], "metrics": []},
                    )
                    entry["options"].extend(build_options(rule, False, self.tokens, detail))
                    entry["metrics"].extend(copy_json(metric) for metric in rule.all_metrics)
        return [by_name[key] for key in sorted(by_name)]

    # -- rules -----------------------------------------------------------------------------------

    def trace(self, mode: str, kind: str, name: str, index: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"scope": kind, "mode": mode, "name": name}
        if index is not None:
            entry["index"] = index
        entry["rules"] = []
        self.reasons.append(entry)
        return entry

    def allocation(self, activity_id: Any) -> float | None:
        if self.visitor_id is None:
            return None
        value = self.allocations.get(activity_id)
        if value is None:
            value = allocation_for(self.client, activity_id, self.visitor_id)
            self.allocations[activity_id] = value
        return value

    def evaluate(
        self,
        rules: tuple[Rule, ...],
        context: dict[str, Any],
        collect_all: bool,
        trace: dict[str, Any],
        remote: set[str],
        decided: set[str] | None = None,
    ) -> list[Rule]:
        decided = set() if decided is None else decided
        if not self.tracing:
            return self.evaluate_fast(rules, context, collect_all, trace, remote, decided)
        matched: list[Rule] = []
        considered = trace["rules"]
        for rule in rules:
            entry: dict[str, Any] = {
                "ruleKey": rule.key,
                "activityId": rule.activity_id,
                "experienceId": rule.experience_id,
            }
            considered.append(entry)
            if rule.property_tokens and self.property_token not in rule.property_tokens:
                entry["matched"], entry["reason"] = False, SKIPPED_PROPERTY
                continue
            if collect_all and rule.key in decided:
                entry["matched"], entry["reason"] = False, SKIPPED_DECIDED
                continue
            if rule.reads_profile and "profile" not in context:
                remote.add(trace["name"])
            try:
                holds = rule.precondition is None or rule.precondition.matches(context)
                if holds:
                    if rule.reads_allocation:
                        self.set_allocation(rule, context, entry)
                    holds = rule.condition.matches(context)
            except (ArithmeticError, ValueError, TypeError, RecursionError) as error:
                entry["matched"], entry["reason"] = False, f"{CONDITION_ERROR}: {error!r}"
                continue
            entry["matched"] = holds
            entry["reason"] = MATCHED if holds else self.why_not(rule, context)
            if holds:
                matched.append(rule)
                decided.add(rule.key)
                self.record(trace, rule)
                if not collect_all:
                    trace["outcome"] = "first matching rule decides"
                    break
        return matched

    def evaluate_fast(
        self,
        rules: tuple[Rule, ...],
        context: dict[str, Any],
        collect_all: bool,
        location: dict[str, Any],
        remote: set[str],
        decided: set[str],
    ) -> list[Rule]:
        # `evaluate` without the trace: the same decisions (tests/engine/test_fast_path.py),
        # skipping the rules the plan's index excludes and testing audiences before bands.
        matched: list[Rule] = []
        token = self.property_token
        for rule in plan_for(self.artifact.plans, rules).candidates(context):
            if rule.property_tokens and token not in rule.property_tokens:
                continue
            if collect_all and rule.key in decided:
                continue
            if rule.reads_profile and "profile" not in context:
                remote.add(location["name"])
            try:
                fast = rule.fast
                if fast is not None and fast.condition is rule.condition:
                    audience = fast.audience
                    if audience is not None and not audience(context):
                        continue
                    band = fast.band
                    if band is not None:
                        allocation = self.allocation(rule.activity_id)
                        if allocation is None or not band(allocation):
                            continue
                else:
                    if rule.precondition is not None and not rule.precondition.matches(context):
                        continue
                    if rule.reads_allocation:
                        self.set_allocation(rule, context, {})
                    if not rule.condition.matches(context):
                        continue
            except (ArithmeticError, ValueError, TypeError, RecursionError):
                continue
            matched.append(rule)
            decided.add(rule.key)
            location["rules"].append(
                {
                    "ruleKey": rule.key,
                    "activityId": rule.activity_id,
                    "experienceId": rule.experience_id,
                    "matched": True,
                    "reason": MATCHED,
                }
            )
            self.record(location, rule)
            if not collect_all:
                break
        return matched

    def record(self, location: dict[str, Any], rule: Rule) -> None:
        decided: dict[str, Any] = {
            "mode": location["mode"],
            "scope": location["scope"],
            "name": location["name"],
        }
        if "index" in location:
            decided["index"] = location["index"]
        decided["ruleKey"] = rule.key
        decided["activityId"] = rule.activity_id
        decided["experienceId"] = rule.experience_id
        self.decided.append(decided)

    def set_allocation(self, rule: Rule, context: dict[str, Any], entry: dict[str, Any]) -> None:
        allocation = self.allocation(rule.activity_id)
        if allocation is None:
            context.pop("allocation", None)
        else:
            context["allocation"] = entry["allocation"] = allocation

    def why_not(self, rule: Rule, context: Mapping[str, Any]) -> str:
        missing = []
        if rule.reads_allocation and self.visitor_id is None:
            missing.append("no visitor id, so no allocation")
        if self.now is None and reads_time(rule):
            missing.append("no 'now', so no time")
        if rule.reads_profile and "profile" not in context:
            missing.append("no profile")
        return f"{NOT_MET} ({'; '.join(missing)})" if missing else NOT_MET

    def fill(
        self,
        response: dict[str, Any],
        mode: str,
        matched: list[Rule],
        detail: Mapping[str, Any],
        name: str,
        page_load: bool,
    ) -> None:
        if not matched:
            return
        execute = mode == "execute"
        options: list[dict[str, Any]] = []
        metrics: list[dict[str, Any]] = []
        tokens: list[str] = []
        for rule in matched:
            options.extend(build_options(rule, execute, self.tokens, detail))
            if execute:
                metrics.extend(copy_json(metric) for metric in rule.click_metrics)
                for token in rule.display_tokens:
                    if (name, token) not in self.notified:
                        self.notified.add((name, token))
                        tokens.append(token)
        if options:
            response["options"] = options
        if metrics:
            # A rule's click metrics are kept as the artifact lists them (prepareExecuteResponse in
            # both SDKs; the global mbox requested as an mbox concatenates its rules' responses);
            # pageLoad merges its rules' metrics once per eventToken.
            response["metrics"] = _page_load_metrics(metrics) if page_load else metrics
        if tokens:
            self.notify(name, tokens)

    def notify(self, mbox_name: str, tokens: list[str]) -> None:
        # notification_provider.py: one display notification per executed mbox.
        notification: dict[str, Any] = {
            "id": f"{self.notification_prefix}.{len(self.notifications) + 1}",
            "type": "display",
        }
        if self.now is not None:
            notification["timestamp"] = timestamp_ms(self.now)
        notification["mbox"] = {"name": mbox_name}
        notification["tokens"] = tokens
        self.notifications.append(notification)


_METHOD_TOKENS = common_tokens({}, frozenset())
_GEO_TOKEN_NAMES = frozenset(token for token, _key in GEO_TOKENS)


def _names(entries: Any) -> set[str]:
    if not isinstance(entries, list) or not entries:
        return set()
    return {
        entry["name"]
        for entry in entries
        if (type(entry) is dict or isinstance(entry, Mapping))
        and isinstance(entry.get("name"), str)
        and entry["name"]
    }


# -- the flat path ---------------------------------------------------------------------------------
#
# The common request, one or a few regular mboxes executed or prefetched with no view, no pageLoad
# and no trace, decided by one function instead of the `_Decision` walk: no per-call object, no
# method calls per level, and each matched rule's options and metrics taken from a fragment
# prepared once (`marshal` bytes of exactly what `_Decision.fill` builds for that rule, so a
# `marshal.loads` gives fresh containers that no other response shares). Anything else (notes to
# report, remote or global mboxes, rules without a fast form or reading the profile, macros or geo
# response tokens in options) returns None or takes the general code, so results are identical:
# tests/engine/test_flat_path.py compares the two on random artifacts and requests.

_MARSHAL_VERSION = 2
_UNSET = object()


def _flat(
    artifact: Artifact,
    request: dict[str, Any],
    profile: Any,
    now: Any,
    client: Any,
) -> dict[str, Any] | None:
    """The decision of a common request as `_Decision.run` makes it, or None for the rest."""
    if type(now) is not datetime or (profile is not None and type(profile) is not dict):
        return None
    if client is not None and type(client) is not str:
        return None
    client = client or artifact.client_code
    execute_block = request.get("execute")
    prefetch_block = request.get("prefetch")
    if execute_block is None:
        mode, block, executing = "prefetch", prefetch_block, False
    elif prefetch_block is None:
        mode, block, executing = "execute", execute_block, True
    else:
        return None
    if not client or type(block) is not dict or len(block) != 1:
        return None
    mboxes = block.get("mboxes")
    ids = request.get("id")
    context_in = request.get("context")
    if type(mboxes) is not list or not mboxes or type(ids) is not dict:
        return None
    if type(context_in) is not dict:
        return None
    visitor = allocation_visitor(ids)
    if visitor is None:
        return None
    plans: list[Plan] = []
    local, remote, all_rules = artifact.local_mboxes, artifact.remote_mboxes, artifact.mbox_rules
    for detail in mboxes:
        if type(detail) is not dict:
            return None
        name = detail.get("name")
        if type(name) is not str or name not in local or name in remote:
            return None
        plan = plan_for(artifact.plans, all_rules.get(name, ()))
        if not plan.flat or name == artifact.global_mbox:
            return None
        plans.append(plan)

    result: dict[str, Any] = {"status": 200}
    prefix = "notification"
    request_id = request.get("requestId")
    if isinstance(request_id, str) and request_id:
        result["requestId"] = prefix = request_id
    result["client"] = client
    result["id"] = {k: v for k, v in ids.items() if type(k) is str or isinstance(k, str)}
    reads = artifact.reads
    if DYNAMIC_VARIABLE in reads or "" in reads:
        reads = EVERY_ROOT
    base = base_context(context_in, now, reads)
    if "segments" in reads:
        base["segments"] = segments_context(request.get("experienceCloud"))
    enabled = artifact.response_tokens
    tokens = _METHOD_TOKENS
    if not enabled.isdisjoint(_GEO_TOKEN_NAMES):
        geo = base.get("geo")
        tokens = common_tokens(geo_context(context_in.get("geo")) if geo is None else geo, enabled)
    property_token = None
    prop = request.get("property")
    if prop is not None and (type(prop) is dict or isinstance(prop, Mapping)):
        token = prop.get("token")
        if isinstance(token, str):
            property_token = token

    entries: list[dict[str, Any]] = []
    reasons: list[dict[str, Any]] = []
    decided: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    notified: set[tuple[str, str]] = set()
    allocations: dict[Any, float] = {}
    timestamp: int | None = None
    for detail, plan in zip(mboxes, plans, strict=True):
        name = detail["name"]
        index = detail.get("index")
        response: dict[str, Any] = {}
        location: dict[str, Any] = {"scope": "mbox", "mode": mode, "name": name}
        has_index = isinstance(index, int) and not isinstance(index, bool)
        if has_index:
            response["index"] = location["index"] = index
        response["name"] = name
        location["rules"] = considered = []
        reasons.append(location)
        entries.append(response)
        context = _detail_context(base, detail, reads, profile)
        for rule in plan.candidates(context):
            if rule.property_tokens and property_token not in rule.property_tokens:
                continue
            fast = rule.fast
            try:
                audience = fast.audience
                if audience is not None and not audience(context):
                    continue
                band = fast.band
                if band is not None:
                    activity_id = rule.activity_id
                    allocation = allocations.get(activity_id)
                    if allocation is None:
                        allocation = allocation_for(client, activity_id, visitor)
                        allocations[activity_id] = allocation
                    if not band(allocation):
                        continue
            except (ArithmeticError, ValueError, TypeError, RecursionError):
                continue
            considered.append(
                {
                    "ruleKey": rule.key,
                    "activityId": rule.activity_id,
                    "experienceId": rule.experience_id,
                    "matched": True,
                    "reason": MATCHED,
                }
            )
            record: dict[str, Any] = {"mode": mode, "scope": "mbox", "name": name}
            if has_index:
                record["index"] = index
            record["ruleKey"] = rule.key
            record["activityId"] = rule.activity_id
            record["experienceId"] = rule.experience_id
            decided.append(record)
            if tokens is _METHOD_TOKENS and not rule.has_macros:
                fragment = plan.fragments.get((id(rule), executing), _UNSET)
                if fragment is _UNSET:
                    fragment = _fragment(rule, executing)
                    plan.fragments[(id(rule), executing)] = fragment
                if fragment is None:
                    response.update(_fill_one(rule, executing, tokens, detail))
                else:
                    response.update(marshal.loads(fragment))  # noqa: S302 - bytes made here
            else:
                response.update(_fill_one(rule, executing, tokens, detail))
            if executing and rule.display_tokens:
                fresh = []
                for token in rule.display_tokens:
                    if (name, token) not in notified:
                        notified.add((name, token))
                        fresh.append(token)
                if fresh:
                    if timestamp is None:
                        timestamp = timestamp_ms(now)
                    notifications.append(
                        {
                            "id": f"{prefix}.{len(notifications) + 1}",
                            "type": "display",
                            "timestamp": timestamp,
                            "mbox": {"name": name},
                            "tokens": fresh,
                        }
                    )
            break
    result[mode] = {"mboxes": entries}
    result[EXTRA_KEY] = {
        "reasons": reasons,
        "decided": decided,
        "notifications": notifications,
        "remoteMboxes": [],
        "remoteViews": [],
    }
    return result


def _detail_context(
    base: Mapping[str, Any], detail: Mapping[str, Any], reads: frozenset[str], profile: Any
) -> dict[str, Any]:
    """The context of one request detail (an mbox, a view): ``base`` plus the page, referrer,
    mbox parameters and profile of ``detail``, each only when a rule ``reads`` it."""
    context = dict(base)
    address = detail.get("address")
    if address is not None and (type(address) is dict or isinstance(address, Mapping)):
        if "page" in reads:
            context["page"] = page_context(address.get("url"))
        if "referringUrl" in address and "referring" in reads:
            context["referring"] = page_context(address.get("referringUrl"))
    if "mbox" in reads:
        context["mbox"] = mbox_context(detail.get("parameters"))
    if "profile" in reads:
        profile_parameters = detail.get("profileParameters")
        if profile is not None or profile_parameters:
            context["profile"] = profile_context(profile, profile_parameters)
    return context


def _fill_one(
    rule: Rule, executing: bool, tokens: Mapping[str, Any], detail: Mapping[str, Any]
) -> dict[str, Any]:
    """What `_Decision.fill` adds to a regular mbox's response for its one matched rule."""
    part: dict[str, Any] = {}
    options = build_options(rule, executing, tokens, detail)
    if options:
        part["options"] = options
    if executing and rule.click_metrics:
        part["metrics"] = [copy_json(metric) for metric in rule.click_metrics]
    return part


def _page_load_metrics(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pageLoad's click metrics once per `eventToken` (the first kept), ordered by it
    (decision_provider.py). Metrics without a token are all kept, last: the Python SDK fails to
    sort them and the Node SDK's string keys would merge them."""
    by_token: dict[str, dict[str, Any]] = {}
    untokened: list[dict[str, Any]] = []
    for metric in metrics:
        token = metric.get("eventToken")
        if isinstance(token, str):
            by_token.setdefault(token, metric)
        else:
            untokened.append(metric)
    return [by_token[key] for key in sorted(by_token)] + untokened


def _fragment(rule: Rule, executing: bool) -> bytes | None:
    """`_fill_one` of a rule without macros, as `marshal` bytes (None if it holds other data)."""
    try:
        return marshal.dumps(_fill_one(rule, executing, _METHOD_TOKENS, {}), _MARSHAL_VERSION)
    except ValueError:
        return None

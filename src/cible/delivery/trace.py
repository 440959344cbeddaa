"""Delivery traces: Adobe's ``trace`` in a delivery request, answered per mbox.

A request with ``trace: {authorizationToken}`` gets, in each mbox (and ``pageLoad`` and view) of
its response, a ``trace`` object saying why each activity was or was not chosen, only when the
token is valid for the request's tenant: a ``debug_tools`` token from the Admin API's
``/authentication/token`` or an Admin API access token of a client with a role on the tenant
(``cible.delivery.auth_token``). Any other token is ignored and the response carries no trace,
as Adobe answers (the trace is "only present when the request carried a valid
``trace.authorizationToken``").

The trace of one location::

    {"artifactVersion": "...", "generatedAt": "...", "evaluation": "rules in priority order",
     "activities": [{"activityId", "activityName", "experienceId", "experienceName",
                     "order", "matched", "reason", "allocation", "condition", "values"}],
     "profileBefore": {...}, "profileAfter": {...}}

``condition`` is the rule's JSON Logic from the artifact (the audiences, the traffic band and the
schedule); ``values`` gives the value of each variable it reads that the request, the profile
the engine decided with (``profileAfter``: this request's profile parameters applied) or the
allocation supplies (``mbox.*``, ``profile.*``, ``allocation``, ``geo.*``); other variables
(browser, page, time) are computed by the engine from the request context as documented in
docs/engine.md. Traced requests are decided without the decision cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from cible.delivery import auth_token
from cible.engine import Artifact
from cible.store import Database

SCOPE = "debug_tools"
# Where the delivery flow carries the engine's full reasons from the decision to ``attach``.
REASONS_KEY = "__cible_trace_reasons"
EVALUATION = "rules in priority order, highest first; an mbox takes the first that matches"
# Verified tokens are remembered a short while so that a traced page does not hit the database
# on every call; refusals too, so that a bad token cannot be used to load it.
REMEMBER_SECONDS = 30.0
MAX_REMEMBERED = 10_000


def requested_token(request: Mapping[str, Any]) -> str | None:
    trace = request.get("trace")
    if not isinstance(trace, Mapping):
        return None
    token = trace.get("authorizationToken")
    return token if isinstance(token, str) and token else None


class TraceGate:
    """Says whether a request's ``trace.authorizationToken`` is valid for a tenant."""

    def __init__(
        self,
        db: Database,
        *,
        key: str | None,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.key = key
        self.clock = clock
        self._monotonic = monotonic
        self._known: dict[tuple[int, str], tuple[bool, float]] = {}

    def authorized(self, tenant_id: int, request: Mapping[str, Any]) -> bool:
        token = requested_token(request)
        if token is None:
            return False
        now = self._monotonic()
        known = self._known.get((tenant_id, token))
        if known is not None and known[1] > now:
            return known[0]
        valid = self._check(tenant_id, token)
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        self._known[(tenant_id, token)] = (valid, now + REMEMBER_SECONDS)
        return valid

    def _check(self, tenant_id: int, token: str) -> bool:
        now = self.clock()
        with self.db.session() as session:
            try:
                auth_token.verify(
                    session, token, tenant_id=tenant_id, scope=SCOPE, key=self.key, now=now
                )
            except auth_token.InvalidAuthToken:
                return auth_token.is_admin_token_of(
                    session, token, tenant_id=tenant_id, key=self.key, now=now
                )
            return True


def _values(
    variables: frozenset[str],
    parameters: Mapping[str, Any],
    profile: Mapping[str, Any],
    geo: Mapping[str, Any],
    allocation: Any,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in sorted(variables):
        root, _, rest = name.partition(".")
        if name == "allocation":
            values[name] = allocation
        elif root == "mbox" and rest in parameters:
            values[name] = parameters[rest]
        elif root == "profile":
            values[name] = profile.get(rest)
        elif root == "geo" and rest in geo:
            values[name] = geo[rest]
    return values


def _rules_by_key(artifact: Artifact) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for rules in (*artifact.mbox_rules.values(), *artifact.view_rules.values()):
        for order, rule in enumerate(rules, start=1):
            found.setdefault(rule.key, (rule, order))
    return found


def attach(
    decision: dict[str, Any],
    reasons: Any,
    request: Mapping[str, Any],
    artifact: Artifact,
    profile_before: Mapping[str, Any],
    profile_after: Mapping[str, Any],
) -> None:
    """Adds ``trace`` to each location of ``decision`` from the engine's full reasons."""
    rules = _rules_by_key(artifact)
    context = request.get("context")
    geo = context.get("geo") if isinstance(context, Mapping) else None
    geo = geo if isinstance(geo, Mapping) else {}
    head = {
        "artifactVersion": artifact.version,
        "generatedAt": artifact.meta.get("generatedAt"),
        "evaluation": EVALUATION,
    }
    traces: dict[tuple[str, str, str, Any], dict[str, Any]] = {}
    for entry in reasons or ():
        scope = entry.get("scope")
        if scope not in ("mbox", "pageLoad", "view"):
            continue
        parameters = _parameters(request, entry)
        activities = []
        for considered in entry.get("rules", ()):
            found = rules.get(considered.get("ruleKey"))
            rule, order = found if found is not None else (None, None)
            meta = rule.meta if rule is not None else {}
            condition = rule.condition if rule is not None else None
            activities.append(
                {
                    "activityId": considered.get("activityId"),
                    "activityName": meta.get("activity.name"),
                    "experienceId": considered.get("experienceId"),
                    "experienceName": meta.get("experience.name"),
                    "order": order,
                    "matched": bool(considered.get("matched")),
                    "reason": considered.get("reason"),
                    "allocation": considered.get("allocation"),
                    "condition": condition.source if condition is not None else None,
                    "values": _values(
                        condition.variables if condition is not None else frozenset(),
                        parameters,
                        profile_after,
                        geo,
                        considered.get("allocation"),
                    ),
                }
            )
        key = (entry.get("mode", ""), scope, entry.get("name", ""), entry.get("index"))
        traces[key] = {
            **head,
            "activities": activities,
            "profileBefore": dict(profile_before),
            "profileAfter": dict(profile_after),
        }
    for mode in ("execute", "prefetch"):
        block = decision.get(mode)
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("pageLoad"), dict):
            found_trace = traces.get((mode, "pageLoad", "", None)) or _first(
                traces, mode, "pageLoad"
            )
            if found_trace is not None:
                block["pageLoad"]["trace"] = found_trace
        for scope, field in (("mbox", "mboxes"), ("view", "views")):
            for item in block.get(field) or ():
                index = item.get("index") if scope == "mbox" else None
                found_trace = traces.get((mode, scope, item.get("name", ""), index))
                if found_trace is not None:
                    item["trace"] = found_trace


def _first(
    traces: Mapping[tuple[str, str, str, Any], dict[str, Any]], mode: str, scope: str
) -> dict[str, Any] | None:
    return next((t for (m, s, _, _), t in traces.items() if m == mode and s == scope), None)


def _parameters(request: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The mbox parameters the request sent for the location ``entry`` traces."""
    block = request.get(entry.get("mode", ""))
    if not isinstance(block, Mapping):
        return {}
    if entry.get("scope") == "pageLoad":
        page = block.get("pageLoad")
        params = page.get("parameters") if isinstance(page, Mapping) else None
        return dict(params) if isinstance(params, Mapping) else {}
    for mbox in block.get("mboxes") or ():
        if (
            isinstance(mbox, Mapping)
            and mbox.get("name") == entry.get("name")
            and mbox.get("index") == entry.get("index")
        ):
            params = mbox.get("parameters")
            return dict(params) if isinstance(params, Mapping) else {}
    return {}

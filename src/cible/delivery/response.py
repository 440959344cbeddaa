"""Adobe's delivery response from a decision: ids, options with response tokens, A4T payloads.

The engine's decision is Adobe's ``execute``/``prefetch`` blocks; this module adds what only the
server knows (``status``, ``requestId``, ``client``, the visitor's ``id``), rewrites response tokens
(``activity.decisioningMethod`` is ``server-side`` here, ``profile.*`` tokens from the stored
profile) and, when ``experienceCloud.analytics.logging`` asks, Analytics for Target payloads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cible.engine import EXTRA_KEY, Artifact

__all__ = ["PROFILE_TOKENS", "analytics_payload", "build_response", "located_decisions"]

SERVER_DECISIONING = "server-side"
PROFILE_TOKENS = {
    "profile.tntId": "tntId",
    "profile.thirdPartyId": "thirdPartyId",
    "profile.isFirstSession": "isFirstSession",
    "profile.isNewSession": "isNewSession",
    "profile.daysSinceLastVisit": "daysSinceLastVisit",
}

Located = dict[tuple[str, str, str, Any], list[tuple[int, int]]]


def analytics_payload(pairs: list[tuple[int, int]]) -> dict[str, Any] | None:
    """A4T payload for the decisions of one location: ``{"pe": "tnt", "tnta": ...}``.

    ``tnta`` lists ``activityId:experienceId:trafficType|eventType`` entries joined by ``,``;
    trafficType is 0 (regular traffic) and eventType 2 (an impression), as in Adobe's example
    ``285408:0:0|2``.
    """
    if not pairs:
        return None
    return {"payload": {"pe": "tnt", "tnta": ",".join(f"{a}:{e}:0|2" for a, e in pairs)}}


def build_response(
    client: str,
    request: Mapping[str, Any],
    request_id: str,
    tnt_id: str,
    decision: dict[str, Any],
    located: Located,
    profile_values: Mapping[str, Any],
    artifact: Artifact,
    acked: list[str],
    rejected: list[dict[str, str]],
) -> dict[str, Any]:
    """The response body of one delivery call (Adobe's ``DeliveryResponse``)."""
    ids = {k: v for k, v in (request.get("id") or {}).items() if v is not None}
    ids["tntId"] = tnt_id
    response: dict[str, Any] = {
        "status": 200,
        "requestId": request_id,
        "client": client,
        "id": ids,
    }
    analytics = ((request.get("experienceCloud") or {}).get("analytics") or {}).get("logging")
    tokens = _profile_tokens(profile_values, artifact)
    for mode in ("execute", "prefetch"):
        if mode not in decision:
            continue
        block = decision[mode]
        for entry, scope in _entries(block):
            _rewrite_tokens(entry, tokens)
            if analytics:
                key = (mode, scope, entry.get("name", ""), entry.get("index"))
                payload = analytics_payload(located.get(key, []))
                if payload is not None:
                    entry["analytics"] = payload
        response[mode] = block
    if request.get("notifications"):
        response["notifications"] = [{"id": nid} for nid in acked]
    if rejected:
        response[EXTRA_KEY] = {"rejectedNotifications": rejected}
    return response


def _profile_tokens(values: Mapping[str, Any], artifact: Artifact) -> dict[str, Any]:
    enabled = artifact.response_tokens
    if not enabled:
        return {}
    tokens: dict[str, Any] = {}
    for token in enabled:
        if not token.startswith("profile."):
            continue
        name = PROFILE_TOKENS.get(token, token.removeprefix("profile."))
        if values.get(name) is not None:
            tokens[token] = str(values[name])
    return tokens


def _entries(block: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(block.get("pageLoad"), dict):
        yield block["pageLoad"], "pageLoad"
    for entry in block.get("mboxes") or ():
        yield entry, "mbox"
    for entry in block.get("views") or ():
        yield entry, "view"


def _rewrite_tokens(entry: dict[str, Any], tokens: Mapping[str, Any]) -> None:
    for option in entry.get("options") or ():
        response_tokens = option.get("responseTokens")
        if not isinstance(response_tokens, dict):
            continue
        if "activity.decisioningMethod" in response_tokens:
            response_tokens["activity.decisioningMethod"] = SERVER_DECISIONING
        response_tokens.update(tokens)


def located_decisions(
    reasons: Any,
) -> dict[tuple[str, str, str, Any], list[tuple[int, int]]]:
    """(mode, scope, name, index) → matched (activity, experience) pairs, from the engine trace."""
    located: dict[tuple[str, str, str, Any], list[tuple[int, int]]] = {}
    for entry in reasons:
        scope = entry.get("scope")
        if scope not in ("mbox", "pageLoad", "view"):
            continue
        key = (entry.get("mode", ""), scope, entry.get("name", ""), entry.get("index"))
        if scope == "pageLoad":
            key = (key[0], scope, "", None)
        pairs = located.setdefault(key, [])
        for rule in entry.get("rules", ()):
            if not rule.get("matched"):
                continue
            try:
                pair = (int(rule["activityId"]), int(rule["experienceId"]))
            except (KeyError, TypeError, ValueError):
                continue
            if pair not in pairs:
                pairs.append(pair)
    return located

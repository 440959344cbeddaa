"""Notifications of many visitors in one request (``POST /rest/v1/notifications``).

Adobe's delivery API carries one visitor per call, so a server-side SDK that decides on-device
for thousands of visitors a second would need thousands of calls a second only to report what it
showed. This module takes up to ``MAX_BATCH`` Adobe notification objects, each naming its visitor
(``visitorId``, the delivery request's ``id`` object), checks each one with the delivery API's own
validation, groups the valid ones by visitor and records every group through
``Delivery.deliver_many`` — the path that records delivery notifications — so events, sticky
assignments, profile updates and token checks are exactly the delivery API's. Each notification
gets its own result, in request order (docs/delivery.md, "Notifications of many visitors").

    >>> items = parse_batch({"notifications": [...]})  # doctest: +SKIP
    >>> results = await record_batch(delivery, tenant, items)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cible.delivery.service import Delivery, DeliveryRejected, TenantRef
from cible.delivery.validate import (
    MAX_NOTIFICATIONS,
    InvalidRequest,
    check_request,
    check_session_id,
)
from cible.engine import EXTRA_KEY

__all__ = [
    "MAX_BATCH",
    "Item",
    "ItemResult",
    "derived_session_id",
    "parse_batch",
    "record_batch",
]

MAX_BATCH = 1000
VISITOR_KEYS = ("tntId", "marketingCloudVisitorId", "thirdPartyId", "customerIds")
# Keys of a batch item that are not part of Adobe's notification object.
BATCH_KEYS = frozenset({"visitorId", "sessionId", "property"})

ACCEPTED = 200
INVALID = 400
REJECTED = 422


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one notification: ``{"id", "status", "message"}`` on the wire."""

    id: str | None
    status: int
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "message": self.message}


@dataclass(frozen=True, slots=True)
class Item:
    """A valid notification with its visitor, session and property token."""

    ids: dict[str, Any]
    session_id: str | None
    property_token: str | None
    notification: dict[str, Any]

    @property
    def id(self) -> str:
        nid: str = self.notification["id"]
        return nid


def parse_batch(body: Any) -> list[Item | ItemResult]:
    """One entry per notification, in order: an ``Item`` or its ``ItemResult`` (400).

    Raises ``InvalidRequest`` when the body itself is malformed (not an object, no
    ``notifications`` array, none or more than ``MAX_BATCH`` of them).
    """
    if not isinstance(body, Mapping):
        raise InvalidRequest("request: must be an object")
    notifications = body.get("notifications")
    if notifications is None:
        raise InvalidRequest("notifications: is required")
    if not isinstance(notifications, list):
        raise InvalidRequest("notifications: must be an array")
    if not 1 <= len(notifications) <= MAX_BATCH:
        raise InvalidRequest(f"notifications: size must be between 1 and {MAX_BATCH}")
    return [_parse_item(item, f"notifications[{i}]") for i, item in enumerate(notifications)]


def _parse_item(item: Any, path: str) -> Item | ItemResult:
    if not isinstance(item, Mapping):
        return ItemResult(None, INVALID, f"{path}: must be an object")
    nid = item.get("id") if isinstance(item.get("id"), str) else None
    try:
        return _checked(item, path)
    except InvalidRequest as error:
        return ItemResult(nid, INVALID, str(error))


def _checked(item: Mapping[str, Any], path: str) -> Item:
    ids = item.get("visitorId")
    if ids is None:
        raise InvalidRequest(f"{path}.visitorId: is required")
    if not isinstance(ids, Mapping):
        raise InvalidRequest(f"{path}.visitorId: must be an object")
    if not any(ids.get(key) for key in VISITOR_KEYS):
        raise InvalidRequest(f"{path}.visitorId: names no visitor ({', '.join(VISITOR_KEYS)})")
    session_id = item.get("sessionId")
    if session_id is not None:
        if not isinstance(session_id, str):
            raise InvalidRequest(f"{path}.sessionId: must be a string")
        try:
            check_session_id(session_id)
        except InvalidRequest as error:
            raise InvalidRequest(f"{path}.{error}") from None
    notification = {k: v for k, v in item.items() if k not in BATCH_KEYS}
    # The delivery API's own checks, on the one-visitor request this item stands for; their
    # paths (``id.…``, ``property.…``, ``notifications[0].…``) are renamed to this item's.
    request: dict[str, Any] = {
        "id": ids,
        "context": {"channel": "web"},
        "notifications": [notification],
    }
    if item.get("property") is not None:
        request["property"] = item["property"]
    try:
        check_request(request)
    except InvalidRequest as error:
        raise InvalidRequest(_renamed(str(error), path)) from None
    token = (item.get("property") or {}).get("token")
    return Item(dict(ids), session_id, token, notification)


def _renamed(message: str, path: str) -> str:
    for prefix, replacement in (
        ("notifications[0]", path),
        ("id.", f"{path}.visitorId."),
        ("property", f"{path}.property"),
    ):
        if message.startswith(prefix):
            return replacement + message.removeprefix(prefix)
    return f"{path}: {message}"


def derived_session_id(ids: Mapping[str, Any]) -> str:
    """The session of a visitor whose notifications name none: stable per visitor, so his
    notifications do not open a new session each time (docs/delivery.md)."""
    digest = hashlib.sha256(orjson.dumps(ids, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"n-{digest[:40]}"


def _groups(items: Iterable[tuple[int, Item]]) -> list[tuple[tuple[str, str, str], list[int]]]:
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for index, item in items:
        key = orjson.dumps(item.ids, option=orjson.OPT_SORT_KEYS).decode()
        session_id = item.session_id or derived_session_id(item.ids)
        grouped.setdefault((key, session_id, item.property_token or ""), []).append(index)
    return list(grouped.items())


async def record_batch(
    delivery: Delivery, tenant: TenantRef, entries: list[Item | ItemResult]
) -> list[ItemResult]:
    """Record the valid entries, one delivery call per visitor (and session and property token),
    at most ``MAX_NOTIFICATIONS`` notifications each; results in order.

    The calls go through ``Delivery.deliver_many``: their visitors' states are read together and
    their writes share one unit of the group commit. A database failure
    (``DatabaseUnavailable``) is raised once every call has finished: calls recorded before it
    stay recorded, and a resent batch counts them once (events are keyed by notification id,
    docs/delivery.md "Events").
    """
    results: list[ItemResult | None] = [e if isinstance(e, ItemResult) else None for e in entries]
    valid = [(i, e) for i, e in enumerate(entries) if isinstance(e, Item)]
    chunks: list[tuple[list[int], list[Item], dict[str, Any], str]] = []
    for (_, session_id, token), indexes in _groups(valid):
        for start in range(0, len(indexes), MAX_NOTIFICATIONS):
            chunk = indexes[start : start + MAX_NOTIFICATIONS]
            items = [entry for entry in (entries[i] for i in chunk) if isinstance(entry, Item)]
            chunks.append((chunk, items, _request(items, token), session_id))
    outcomes = await delivery.deliver_many(
        tenant, [(request, session_id) for _, _, request, session_id in chunks]
    )
    failure: BaseException | None = None
    for (chunk, items, _, _), outcome in zip(chunks, outcomes, strict=True):
        if isinstance(outcome, DeliveryRejected):
            recorded = [ItemResult(item.id, INVALID, str(outcome)) for item in items]
        elif isinstance(outcome, BaseException):
            failure = outcome
            continue
        else:
            recorded = _results(items, outcome or {})
        for index, result in zip(chunk, recorded, strict=True):
            results[index] = result
    if failure is not None:
        raise failure
    return [r if r is not None else ItemResult(None, 500, "not processed") for r in results]


def _request(items: list[Item], token: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "id": dict(items[0].ids),
        "context": {"channel": "web"},
        "notifications": [dict(item.notification) for item in items],
    }
    if token:
        request["property"] = {"token": token}
    return request


def _results(items: list[Item], response: Mapping[str, Any]) -> list[ItemResult]:
    acked = {entry.get("id") for entry in response.get("notifications") or ()}
    extra = response.get(EXTRA_KEY) or {}
    rejected = {r.get("id"): r.get("message", "") for r in extra.get("rejectedNotifications") or ()}
    results = []
    for item in items:
        if item.id in rejected:
            results.append(ItemResult(item.id, REJECTED, str(rejected[item.id])))
        elif item.id in acked:
            results.append(ItemResult(item.id, ACCEPTED, "accepted"))
        else:
            results.append(ItemResult(item.id, 500, "not acknowledged by the delivery service"))
    return results

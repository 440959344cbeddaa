"""What a delivery call records: impressions of executed decisions, notifications, conversions,
orders, and the sticky assignments that notifications of on-device decisions imply.

A notification counts only for an experience the visitor could have been shown
(``cible.delivery.notify_plausible``); others are answered as rejected and recorded as
``rejected`` events, which reports count apart.

Functions here fill an ``EventBatch`` and change the call's ``Visit`` in memory; the delivery
service writes both in one group commit (docs/delivery.md, "Events").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from cible.delivery.events import EventBatch, decode_tokens
from cible.delivery.notify_plausible import Plausibility
from cible.delivery.response import Located
from cible.engine import allocation_visitor
from cible.profiles.service import Visit

__all__ = ["record_executed", "record_notifications"]


def record_executed(
    batch: EventBatch,
    request: Mapping[str, Any],
    located: Located,
    visit: Visit,
    request_id: str,
    now: datetime,
    global_mbox: str,
) -> None:
    """Impressions of the executed decisions, conversions and orders of executed mboxes."""
    impression_id = request.get("impressionId")
    execute = request.get("execute") or {}
    shown_at: dict[str, set[int]] = {}
    for (mode, _scope, located_name, _index), pairs in located.items():
        if mode != "execute":
            continue
        name = located_name or global_mbox
        for activity, experience in pairs:
            shown_at.setdefault(name, set()).add(activity)
            key = (
                f"imp:{impression_id}:{activity}:{experience}"
                if impression_id
                else f"exe:{request_id}:{name}:{activity}:{experience}"
            )
            batch.add(key, "impression", now, activity=activity, experience=experience, mbox=name)
    executed: list[tuple[str, Any]] = []
    if execute.get("pageLoad") is not None:
        executed.append((global_mbox, execute["pageLoad"]))
    executed.extend((m.get("name"), m) for m in execute.get("mboxes") or ())
    reference = impression_id or request_id
    for name, detail in executed:
        _conversions(batch, visit, name, shown_at.get(name, set()), reference, now)
        batch.add_order(detail.get("order"), visit.assignments, now, name)


def _conversions(
    batch: EventBatch,
    visit: Visit,
    mbox: str,
    shown: set[int],
    reference: str,
    now: datetime,
) -> None:
    for activity, experience in visit.assignments.items():
        if activity in shown:
            continue
        batch.add(
            f"cnv:{batch.visitor}:{activity}:{mbox}:{reference}",
            "conversion",
            now,
            activity=activity,
            experience=experience,
            mbox=mbox,
        )


class ServedFacts(Protocol):
    """What notifications are checked against, derived once per served artifact."""

    @property
    def served(self) -> frozenset[tuple[int, int]]: ...
    @property
    def published(self) -> Mapping[str, tuple[int, int]]: ...
    @property
    def plausible(self) -> Plausibility: ...


def record_notifications(
    batch: EventBatch,
    request: Mapping[str, Any],
    facts: ServedFacts,
    visit: Visit,
    secrets: Iterable[bytes | None],
    client: str,
) -> tuple[list[str], list[dict[str, str]]]:
    """Displays and clicks of the request's notifications: (acknowledged ids, rejections).

    A token counts when the served artifact publishes it or it decodes under one of the
    tenant's ``secrets`` (``decode_tokens``), and only for an experience the visitor was given
    (his sticky assignment before this request's notifications, or his allocation:
    ``Plausibility``); a token of another experience is recorded as a ``rejected`` event, and a
    notification none of whose tokens counts is rejected.
    """
    secrets = tuple(secrets)
    plausible = facts.plausible
    acked: list[str] = []
    rejected: list[dict[str, str]] = []
    assigned = dict(visit.assignments)
    visitor_id = allocation_visitor(request.get("id"))
    for notification in request.get("notifications") or ():
        nid = notification["id"]
        pairs = decode_tokens(
            notification.get("tokens") or (), facts.served, secrets, facts.published
        )
        if not pairs:
            rejected.append({"id": nid, "message": "no eventToken of a served experience"})
            continue
        at = datetime.fromtimestamp(notification["timestamp"] / 1000, UTC)
        mbox = (notification.get("mbox") or {}).get("name")
        view = (notification.get("view") or {}).get("name")
        impression_id = notification.get("impressionId")
        location = mbox or view or None
        kept = [
            (activity, experience)
            for activity, experience in pairs
            if plausible.allows(
                activity, experience, assigned=assigned, visitor_id=visitor_id, client=client
            )
        ]
        for activity, experience in pairs:
            if (activity, experience) not in kept:
                batch.add(
                    f"rej:{nid}:{activity}:{experience}",
                    "rejected",
                    at,
                    activity=activity,
                    experience=experience,
                    mbox=location,
                )
        if not kept:
            activity, experience = pairs[0]
            rejected.append(
                {
                    "id": nid,
                    "message": f"experience {experience} of activity {activity} is not "
                    "the visitor's (sticky assignment or allocation)",
                }
            )
            continue
        pairs = kept
        for activity, experience in pairs:
            if notification["type"] == "click":
                key, kind = f"clk:{nid}:{activity}:{experience}", "click"
            elif impression_id:
                key, kind = f"imp:{impression_id}:{activity}:{experience}", "display"
            else:
                key, kind = f"ntf:{nid}:{activity}:{experience}", "display"
            visit.assign(activity, experience)
            batch.add(key, kind, at, activity=activity, experience=experience, mbox=location)
        if mbox and notification["type"] == "display":
            shown = {activity for activity, _ in pairs}
            _conversions(batch, visit, mbox, shown, impression_id or nid, at)
        batch.add_order(notification.get("order"), visit.assignments, at, location)
        acked.append(nid)
    return acked, rejected

"""What a delivery call records: impressions of executed decisions, notifications, conversions,
orders, and the sticky assignments that notifications of on-device decisions imply.

Functions here fill an ``EventBatch`` and change the call's ``Visit`` in memory; the delivery
service writes both in one group commit (docs/delivery.md, "Events").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cible.delivery.events import EventBatch, decode_tokens
from cible.delivery.response import Located
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


def record_notifications(
    batch: EventBatch,
    request: Mapping[str, Any],
    served: frozenset[tuple[int, int]],
    visit: Visit,
    secret: bytes | None,
) -> tuple[list[str], list[dict[str, str]]]:
    """Displays and clicks of the request's notifications: (acknowledged ids, rejections)."""
    acked: list[str] = []
    rejected: list[dict[str, str]] = []
    for notification in request.get("notifications") or ():
        nid = notification["id"]
        pairs = decode_tokens(notification.get("tokens") or (), served, secret)
        if not pairs:
            rejected.append({"id": nid, "message": "no eventToken of a served experience"})
            continue
        at = datetime.fromtimestamp(notification["timestamp"] / 1000, UTC)
        mbox = (notification.get("mbox") or {}).get("name")
        view = (notification.get("view") or {}).get("name")
        impression_id = notification.get("impressionId")
        location = mbox or view or None
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

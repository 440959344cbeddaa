"""Synthetic delivery events for report tests, appended to the event log as the delivery API
does (topic ``delivery``, one JSON payload per event, keyed by ``event_key``)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson

from cible.events import Record, append_records
from cible.store import Database

DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def payload(
    kind: str,
    key: str,
    activity: int,
    experience: int | None,
    visitor: str,
    *,
    session: str | None = None,
    mbox: str | None = None,
    order_id: str | None = None,
    revenue: float | None = None,
    at_ms: int = START_MS,
) -> dict[str, Any]:
    return {
        "event_key": key,
        "kind": kind,
        "activity_id": activity,
        "experience_id": experience,
        "mbox": mbox,
        "visitor": visitor,
        "session_id": session,
        "order_id": order_id,
        "revenue": revenue,
        "occurred_ms": at_ms,
    }


def append(database: Database, tenant_id: int, events: list[dict[str, Any]]) -> None:
    records = [Record("delivery", tenant_id, e["event_key"], orjson.dumps(e)) for e in events]
    with database.engine.begin() as conn:
        append_records(conn, records)


@dataclass
class Simulated:
    events: list[dict[str, Any]]


def simulate(
    activity: int,
    visitors: int,
    rates: dict[int, float],
    *,
    seed: int = 1,
    days: int = 3,
    mbox: str = "orderConfirmPage",
) -> list[dict[str, Any]]:
    """Visitors assigned evenly to the experiences of ``rates``, each with 1 to 3 visits, a few
    re-sent notifications, conversions at ``mbox`` with the experience's rate and orders."""
    rng = random.Random(seed)
    experiences = sorted(rates)
    out: list[dict[str, Any]] = []
    for v in range(visitors):
        visitor = f"v{v}"
        exp = experiences[v % len(experiences)]
        t = START_MS + rng.randrange(days * DAY_MS)
        for s in range(rng.randint(1, 3)):
            session = f"{visitor}-s{s}"
            for i in range(rng.randint(1, 2)):
                t += rng.randrange(60_000)
                key = f"imp:{session}:{i}:{activity}:{exp}"
                event = payload("impression", key, activity, exp, visitor, session=session, at_ms=t)
                out.append(event)
                if rng.random() < 0.1:
                    out.append(dict(event))  # a re-sent notification
            if rng.random() < 0.05:
                out.append(
                    payload(
                        "click",
                        f"clk:{session}:{activity}:{exp}",
                        activity,
                        exp,
                        visitor,
                        session=session,
                        mbox="hero",
                        at_ms=t,
                    )
                )
            if rng.random() < rates[exp]:
                t += 1000
                out.append(
                    payload(
                        "conversion",
                        f"cnv:{visitor}:{activity}:{mbox}:{session}",
                        activity,
                        exp,
                        visitor,
                        session=session,
                        mbox=mbox,
                        at_ms=t,
                    )
                )
                order = f"o-{visitor}-{s}"
                amount = round(rng.lognormvariate(3.5, 0.8), 2)
                out.append(
                    payload(
                        "order",
                        f"ord:{activity}:{order}",
                        activity,
                        exp,
                        visitor,
                        session=session,
                        mbox=mbox,
                        order_id=order,
                        revenue=amount,
                        at_ms=t,
                    )
                )
    return out


def recount(events: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per experience, counted directly from raw events: visitors, visits, impressions,
    converting visitors at any ``mbox:`` metric, orders, revenue."""
    seen: set[str] = set()
    first_exp: dict[tuple[int, str], int] = {}
    sessions: dict[tuple[int, str], list[str]] = defaultdict(list)
    out: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    converted: set[tuple[int, str]] = set()
    for e in events:
        if e["event_key"] in seen:
            continue
        seen.add(e["event_key"])
        who = (e["activity_id"], e["visitor"])
        if who not in first_exp:
            first_exp[who] = e["experience_id"]
            out[e["experience_id"]]["visitors"] += 1
        exp = first_exp[who]
        sess = sessions[who]
        if not sess or (e["session_id"] is not None and e["session_id"] != sess[-1]):
            out[exp]["visits"] += 1
        if e["session_id"] is not None:
            sess.append(e["session_id"])
        elif not sess:
            sess.append("")
        if e["kind"] in ("impression", "display"):
            out[exp]["impressions"] += 1
        if e["kind"] == "conversion" and who not in converted:
            converted.add(who)
            out[exp]["converted"] += 1
        if e["kind"] == "order":
            out[exp]["orders"] += 1
            out[exp]["revenue"] += e["revenue"] or 0.0
    return out

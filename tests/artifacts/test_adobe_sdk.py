"""Adobe's `target-python-sdk`, unmodified, decides on-device from an artifact Cible compiled.

2,000 visitors with different browsers, pages and mbox parameters ask for four mboxes; the
experiences Adobe's SDK returns must follow the activities' allocations, targeting and priorities.
No network: the SDK's delivery calls go to a stub on 127.0.0.1 (see `_adobe.py`).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from delivery_api_client import Geo

from cible.artifacts import EventTokenRef, compile_artifact, decode_event_token

from ._adobe import (
    ACTIVITIES,
    AUDIENCES,
    CLIENT,
    GEO_CASES,
    OFFERS,
    StubDelivery,
    chosen,
    geo_artifact,
    on_device_client,
    quiet_model_reprs,
    scenario_artifact,
    stub_delivery_server,
    visitors,
)

VISITORS = 2000

# Generous: Adobe's SDK takes 5-40 ms a decision on a busy 2-CPU machine. No timing is asserted.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubDelivery]:
    with stub_delivery_server() as server, quiet_model_reprs():
        yield server


@pytest.fixture(scope="module")
def client(stub: StubDelivery) -> Any:
    return on_device_client(scenario_artifact(), stub)


@pytest.fixture(scope="module")
def decisions(client: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Per visitor: the visitor and `{mbox name: (activity id, experience id) | None}`."""
    results = []
    for visitor in visitors(VISITORS):
        response = client.get_offers({"request": visitor.request()})["response"]
        assert response.status == 200
        picked = {m.name: chosen(m) for m in response.prefetch.mboxes}
        results.append((visitor, picked))
    return results


def test_client_is_ready_and_made_its_location_hint_call(client: Any, stub: StubDelivery) -> None:
    assert client.decisioning_engine.is_ready()
    assert any("sessionId=ping123" in path for path, _ in stub.requests)


def test_ab_split_is_50_50(decisions: list[tuple[Any, dict[str, Any]]]) -> None:
    counts = Counter(picked["hero"] for _, picked in decisions)
    assert set(counts) == {(101, 0), (101, 1)}  # the saved activity 107 never shows
    assert abs(counts[(101, 0)] / VISITORS - 0.5) < 0.04


def test_xt_first_matching_audience_wins(decisions: list[tuple[Any, dict[str, Any]]]) -> None:
    seen = Counter()
    for visitor, picked in decisions:
        expected = visitor.expected_promo()
        assert picked["promo"] == (102, expected), visitor
        seen[expected] += 1
    assert all(seen[e] > 50 for e in range(4))  # every experience was exercised


def test_ab_with_entry_audience(decisions: list[tuple[Any, dict[str, Any]]]) -> None:
    entered = [picked["checkout"] for visitor, picked in decisions if "example.com" in visitor.url]
    outside = [
        picked["checkout"] for visitor, picked in decisions if "example.com" not in visitor.url
    ]
    assert outside and all(choice is None for choice in outside)
    counts = Counter(entered)
    for experience, share in [(0, 0.2), (1, 0.3), (2, 0.5)]:
        assert abs(counts[(103, experience)] / len(entered) - share) < 0.05


def test_higher_priority_activity_wins(decisions: list[tuple[Any, dict[str, Any]]]) -> None:
    for visitor, picked in decisions:
        if visitor.browser == "firefox":
            assert picked["banner"] == (104, 0)
        else:
            assert picked["banner"] in {(105, 0), (105, 1)}
    others = Counter(p["banner"] for v, p in decisions if v.browser != "firefox")
    assert abs(others[(105, 0)] / sum(others.values()) - 0.5) < 0.05


def test_same_visitor_same_experience(client: Any) -> None:
    visitor = visitors(1, seed=7)[0]
    first = client.get_offers({"request": visitor.request()})["response"]
    again = client.get_offers({"request": visitor.request()})["response"]
    assert [chosen(m) for m in first.prefetch.mboxes] == [chosen(m) for m in again.prefetch.mboxes]


def test_prefetched_event_tokens_name_the_experience(client: Any) -> None:
    for visitor in visitors(50, seed=3):
        response = client.get_offers({"request": visitor.request()})["response"]
        for mbox in response.prefetch.mboxes:
            if mbox.options:
                token = mbox.options[0].event_token
                assert decode_event_token(token) == EventTokenRef(*chosen(mbox))


def test_executed_decisions_notify_with_decodable_tokens(client: Any, stub: StubDelivery) -> None:
    before = len(stub.requests)
    visitor = visitors(1, seed=11)[0]
    response = client.get_offers({"request": visitor.request("execute")})["response"]
    shown = {m.name: chosen(m) for m in response.execute.mboxes}
    received = stub.wait_for(before + 1)[before:]
    notifications = [n for _, body in received for n in body.get("notifications", [])]
    reported = {
        n["mbox"]["name"]: decode_event_token(token) for n in notifications for token in n["tokens"]
    }
    expected = {name: EventTokenRef(*pick) for name, pick in shown.items() if pick}
    assert reported == expected


def test_remote_audience_makes_the_sdk_ask_the_server(client: Any, stub: StubDelivery) -> None:
    visitor = visitors(1, seed=5)[0]
    result = client.get_offers({"request": visitor.request(mboxes=("vip", "hero"))})
    assert result["response"].status == 206  # on-device: partial content
    assert result["meta"]["remote_mboxes"] == ["vip"]
    before = len(stub.requests)
    client.get_offers({"request": visitor.request(mboxes=("vip",)), "decisioning_method": "hybrid"})
    path, body = stub.wait_for(before + 1)[before]
    assert path.startswith("/rest/v1/delivery")
    assert [m["name"] for m in body["prefetch"]["mboxes"]] == ["vip"]


def test_default_content_experience_is_counted_but_shows_nothing(stub: StubDelivery) -> None:
    hero = copy.deepcopy(ACTIVITIES[0])
    hero["experiences"][1]["optionLocations"] = []  # experience B keeps the page as it is
    artifact = compile_artifact(
        client=CLIENT,
        environment="production",
        activities=[hero],
        offers=OFFERS,
        audiences=AUDIENCES,
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    client = on_device_client(artifact, stub)
    control = EventTokenRef(101, 1)
    for visitor in visitors(40, seed=9):
        prefetched = client.get_offers({"request": visitor.request(mboxes=("hero",))})
        (option,) = prefetched["response"].prefetch.mboxes[0].options
        if decode_event_token(option.event_token) != control:
            continue
        assert option.content == ""
        before = len(stub.requests)
        executed = client.get_offers({"request": visitor.request("execute", mboxes=("hero",))})
        assert not executed["response"].execute.mboxes[0].options
        _, body = stub.wait_for(before + 1)[before]
        assert [decode_event_token(t) for t in body["notifications"][0]["tokens"]] == [control]
        return
    pytest.fail("no visitor fell in experience B")


@pytest.mark.parametrize(("geo", "expected"), GEO_CASES)
def test_geo_audiences(stub: StubDelivery, geo: dict[str, Any], expected: int) -> None:
    artifact = geo_artifact()
    assert artifact["geoTargetingEnabled"] is True
    client = on_device_client(artifact, stub)
    request = visitors(1)[0].request(mboxes=("local",))
    request.context.geo = Geo(**geo)
    response = client.get_offers({"request": request})["response"]
    assert chosen(response.prefetch.mboxes[0]) == (120, expected)


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York", "UTC"])
def test_time_frame_audiences_in_a_time_zone(stub: StubDelivery, zone: str) -> None:
    # Adobe's SDK reads the real clock, so the audiences are built around the real time.
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo(zone))
    today, tomorrow = local.isoweekday(), local.isoweekday() % 7 + 1
    window = [
        (local - timedelta(hours=2)).strftime("%H%M"),
        (local + timedelta(hours=2)).strftime("%H%M"),
    ]
    days = [
        (local - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        (local + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    ]

    def rule(day: int) -> dict[str, Any]:
        return {
            "and": [
                {"timeFrame": "day", "equals": [day], "timeZone": zone},
                {"timeFrame": "time", "between": window, "timeZone": zone},
            ]
        }

    audiences = {
        21: {"id": 21, "name": "today, now", "targetRule": rule(today)},
        22: {"id": 22, "name": "tomorrow, now", "targetRule": rule(tomorrow)},
        23: {
            "id": 23,
            "name": "these days",
            "targetRule": {"timeFrame": "date", "between": days, "timeZone": zone},
        },
    }
    clock = copy.deepcopy(ACTIVITIES[1])
    clock["id"] = 130
    clock["locations"]["mboxes"][0]["name"] = "clock"
    for experience, ids in zip(clock["experiences"], [[22], [21], [23], []], strict=True):
        experience["audienceIds"] = ids
    artifact = compile_artifact(
        client=CLIENT,
        environment="production",
        activities=[clock],
        offers=OFFERS,
        audiences=audiences,
        generated_at=now,
    )
    client = on_device_client(artifact, stub)
    response = client.get_offers({"request": visitors(1)[0].request(mboxes=("clock",))})
    assert chosen(response["response"].prefetch.mboxes[0]) == (130, 1)
    clock["experiences"][1]["audienceIds"] = [23]  # after "tomorrow": the date range alone
    artifact = compile_artifact(
        client=CLIENT,
        environment="production",
        activities=[clock],
        offers=OFFERS,
        audiences=audiences,
        generated_at=now,
    )
    client = on_device_client(artifact, stub)
    response = client.get_offers({"request": visitors(1)[0].request(mboxes=("clock",))})
    assert chosen(response["response"].prefetch.mboxes[0]) == (130, 1)

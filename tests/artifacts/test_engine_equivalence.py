"""Adobe's SDK on-device and `cible.engine.decide` pick the same experiences from one artifact.

10,000 visitors (browsers, pages, mbox parameters) ask for four mboxes carrying A/B and XT
activities with audiences and priorities, compiled by `cible.artifacts`. For every visitor and
mbox, the (activity, experience) Adobe's `target-python-sdk` returns on-device equals the one
`cible.engine.decide` returns. Both read the experience back from the option's event token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from delivery_api_client import Geo

from cible.artifacts import EventTokenRef, compile_artifact, decode_event_token
from cible.engine import decide, load_artifact

from ._adobe import (
    GEO_CASES,
    OFFERS,
    StubDelivery,
    geo_artifact,
    make_activity,
    on_device_client,
    quiet_model_reprs,
    scenario_artifact,
    stub_delivery_server,
    visitors,
)

VISITORS = 10_000
# Inside every scenario schedule (2020-2099); Adobe's SDK reads the real clock, the engine this.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubDelivery]:
    with stub_delivery_server() as server, quiet_model_reprs():
        yield server


def sdk_choice(mbox: Any) -> EventTokenRef | None:
    return decode_event_token(mbox.options[0].event_token) if mbox.options else None


def engine_choice(mbox: dict[str, Any]) -> EventTokenRef | None:
    options = mbox.get("options") or []
    return decode_event_token(options[0]["eventToken"]) if options else None


@pytest.mark.slow
@pytest.mark.timeout(3600)  # Adobe's SDK: 5-40 ms a decision on a busy 2-CPU machine
def test_adobe_sdk_and_cible_engine_agree(stub: StubDelivery) -> None:
    artifact = scenario_artifact()
    client = on_device_client(artifact, stub)
    engine_artifact = load_artifact(artifact)
    mismatches = []
    tally: Counter[EventTokenRef | None] = Counter()
    for visitor in visitors(VISITORS, seed=42):
        sdk = client.get_offers({"request": visitor.request()})["response"]
        ours = decide(engine_artifact, visitor.request_json(), now=NOW, client="acme")
        adobe = {m.name: sdk_choice(m) for m in sdk.prefetch.mboxes}
        cible = {m["name"]: engine_choice(m) for m in ours["prefetch"]["mboxes"]}
        if adobe != cible:
            mismatches.append((visitor, adobe, cible))
        tally.update(adobe.values())
    assert mismatches[:5] == []
    # The comparison covered every experience of every on-device activity.
    assert {ref.activity_id for ref in tally if ref} == {101, 102, 103, 104, 105}
    assert None in tally  # and visitors outside the checkout entry audience


def test_both_send_remote_mboxes_to_the_server(stub: StubDelivery) -> None:
    artifact = scenario_artifact()
    client = on_device_client(artifact, stub)
    visitor = visitors(1)[0]
    sdk = client.get_offers({"request": visitor.request(mboxes=("vip", "hero"))})
    ours = decide(
        load_artifact(artifact),
        visitor.request_json(mboxes=("vip", "hero")),
        now=NOW,
        client="acme",
    )
    assert sdk["meta"]["remote_mboxes"] == ours["cible"]["remoteMboxes"] == ["vip"]


@pytest.mark.parametrize(("geo", "expected"), GEO_CASES)
def test_both_read_geo_the_same_way(stub: StubDelivery, geo: dict[str, Any], expected: int) -> None:
    artifact = geo_artifact()
    client = on_device_client(artifact, stub)
    visitor = visitors(1)[0]
    request = visitor.request(mboxes=("local",))
    request.context.geo = Geo(**geo)
    sdk = client.get_offers({"request": request})["response"].prefetch.mboxes[0]
    body = visitor.request_json(mboxes=("local",))
    names = {"country_code": "countryCode", "state_code": "stateCode"}
    body["context"]["geo"] = {names.get(k, k): value for k, value in geo.items()}
    ours = decide(load_artifact(artifact), body, now=NOW, client="acme")["prefetch"]["mboxes"][0]
    assert sdk_choice(sdk) == engine_choice(ours) == EventTokenRef(120, expected)


def test_engine_follows_time_zoned_audiences_across_clock_changes() -> None:
    # Adobe's SDK reads the real clock (test_adobe_sdk covers "now"); the engine takes `now`,
    # so a whole year of it, daylight-saving changes included, can be checked.
    zone = "Europe/Paris"
    audiences = {
        1: {
            "id": 1,
            "name": "Sunday night",
            "targetRule": {
                "and": [
                    {"timeFrame": "day", "equals": ["sunday"], "timeZone": zone},
                    {"timeFrame": "time", "between": ["0130", "0330"], "timeZone": zone},
                ]
            },
        }
    }
    activity = make_activity(140, "xt", "clock", [(None, [1]), (None, [])])
    at = datetime(2026, 2, 1, tzinfo=UTC)
    compiled = compile_artifact(
        client="acme",
        environment="production",
        activities=[activity],
        offers=OFFERS,
        audiences=audiences,
        generated_at=at,
    )
    artifact = load_artifact(compiled)
    request = visitors(1)[0].request_json(mboxes=("clock",))
    tz = ZoneInfo(zone)
    for step in range(0, 365 * 24 * 60, 97):
        moment = at + timedelta(minutes=step)
        local = moment.astimezone(tz)
        sunday_night = local.isoweekday() == 7 and "0130" <= local.strftime("%H%M") <= "0330"
        (mbox,) = decide(artifact, request, now=moment, client="acme")["prefetch"]["mboxes"]
        assert engine_choice(mbox) == EventTokenRef(140, 0 if sunday_night else 1), moment

"""``qaMode`` in delivery requests: forced experiences of activities not live, clear refusals,
no sticky assignment written, every event flagged as QA."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from cible.jobs import run_pending
from tests.activities._kit import ab_body, audience, offer, v3, xt_body
from tests.conftest import BACKENDS, Credential, FakeClock, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

DELIVERY = "/rest/v1/delivery?client=acme&sessionId=s1"


async def _activity(world: World, cred: Credential, kind: str, body: dict[str, Any]) -> int:
    response = await world.http.post(f"/acme/target/activities/{kind}", json=body, headers=v3(cred))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _links(world: World, cred: Credential, path: str, **body: Any) -> list[dict[str, Any]]:
    response = await world.http.post(f"/{path}/qamode", json=body, headers=v3(cred))
    assert response.status_code == 200, response.text
    links: list[dict[str, Any]] = response.json()["qaModeExperiences"]
    return links


def _request(tnt: str, qa: dict[str, Any] | None, *mboxes: str, **params: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "context": {"channel": "web"},
        "id": {"tntId": tnt},
        "execute": {
            "mboxes": [
                {"index": i, "name": name, "parameters": params} for i, name in enumerate(mboxes)
            ]
        },
    }
    if qa is not None:
        body["qaMode"] = qa
    return body


async def _contents(world: World, body: dict[str, Any]) -> list[Any]:
    response = await world.http.post(DELIVERY, json=body)
    assert response.status_code == 200, response.text
    return [
        [option.get("content") for option in mbox.get("options", [])]
        for mbox in response.json()["execute"]["mboxes"]
    ]


def _rows(world: World, sql: str) -> list[tuple[Any, ...]]:
    with world.database.session() as s:
        return [tuple(row) for row in s.execute(text(sql))]


@pytest.fixture
async def scene(world: World, acme: Credential) -> dict[str, Any]:
    live, side, qa_a, qa_b = [
        await offer(world.http, acme, name) for name in ("live", "side", "qa-a", "qa-b")
    ]
    live_body = ab_body([live], name="Live hero", state="approved")
    side_body = ab_body([side], name="Live side", state="approved")
    side_body["locations"]["mboxes"][0]["name"] = "side"
    await _activity(world, acme, "ab", live_body)
    await _activity(world, acme, "ab", side_body)
    # Saved, never approved, and scheduled to start next year.
    under_qa = await _activity(
        world, acme, "ab", ab_body([qa_a, qa_b], name="Under QA", startsAt="2027-06-01T00:00:00Z")
    )
    gold = audience(world.database, "acme", "gold", {"mbox": "tier", "equals": ["gold"]})
    xt = await _activity(world, acme, "xt", xt_body([qa_a, qa_b], [gold], name="QA XT"))
    run_pending(world.database)
    return {
        "ab": under_qa,
        "xt": xt,
        "gold": gold,
        "links": await _links(world, acme, f"acme/target/activities/ab/{under_qa}"),
        "xt_links": await _links(world, acme, f"acme/target/activities/xt/{xt}"),
    }


async def test_a_qa_link_forces_its_experience(world: World, scene: dict[str, Any]) -> None:
    first, second = scene["links"]
    # Real traffic sees only the live activities.
    assert await _contents(world, _request("v0.0", None, "hero", "side")) == [
        ["<p>live</p>"],
        ["<p>side</p>"],
    ]
    for n in range(6):
        # The token alone shows the experience of its link, for every visitor.
        forced = {"token": second["qaMode"]["token"], "listedActivitiesOnly": True}
        assert await _contents(world, _request(f"v{n}.0", forced, "hero", "side")) == [
            ["<p>qa-b</p>"],
            [],  # listedActivitiesOnly: the live activity on "side" is left out
        ]
        # previewIndexes picks another experience of the token's activity.
        picked = {**forced, "previewIndexes": [{"activityIndex": 1, "experienceIndex": 1}]}
        assert await _contents(world, _request(f"v{n}.0", picked, "hero")) == [["<p>qa-a</p>"]]
    # Without listedActivitiesOnly the live activities are evaluated too, after the QA ones.
    mixed = {"token": first["qaMode"]["token"]}
    assert await _contents(world, _request("v9.0", mixed, "hero", "side")) == [
        ["<p>qa-a</p>"],
        ["<p>side</p>"],
    ]
    # Out-of-range indexes: an unknown activity index is ignored, an unknown experience index
    # falls back to the activity's own allocation (one of its experiences).
    loose = {**mixed, "previewIndexes": [{"activityIndex": 3, "experienceIndex": 2}]}
    assert await _contents(world, _request("v9.0", loose, "hero")) == [["<p>qa-a</p>"]]
    fallback = {**mixed, "previewIndexes": [{"activityIndex": 1, "experienceIndex": 9}]}
    (shown,) = await _contents(world, _request("v9.0", fallback, "hero"))
    assert shown in (["<p>qa-a</p>"], ["<p>qa-b</p>"])


async def test_audiences_evaluated_as_true_or_false(world: World, scene: dict[str, Any]) -> None:
    gold_link = scene["xt_links"][0]["qaMode"]  # the experience for audience "gold"
    token = {"token": gold_link["token"], "listedActivitiesOnly": True}
    assert await _contents(world, _request("x1.0", token, "hero", tier="silver")) == [[]]
    assert await _contents(world, _request("x1.0", token, "hero", tier="gold")) == [["<p>qa-a</p>"]]
    as_true = {**token, "evaluateAsTrueAudienceIds": [scene["gold"]]}
    assert await _contents(world, _request("x1.0", as_true, "hero", tier="silver")) == [
        ["<p>qa-a</p>"]
    ]
    as_false = {**token, "evaluateAsFalseAudienceIds": [scene["gold"]]}
    assert await _contents(world, _request("x1.0", as_false, "hero", tier="gold")) == [[]]


async def test_qa_calls_write_no_assignment_and_flag_their_events(
    world: World, scene: dict[str, Any]
) -> None:
    token = scene["links"][1]["qaMode"]["token"]
    await _contents(world, _request("qa-visitor.0", {"token": token}, "hero", "side"))
    prefetch = {
        "context": {"channel": "web"},
        "id": {"tntId": "qa-visitor.0"},
        "prefetch": {"mboxes": [{"index": 0, "name": "hero"}]},
        "qaMode": {"token": token},
    }
    response = await world.http.post(DELIVERY, json=prefetch)
    assert response.status_code == 200, response.text
    event_token = response.json()["prefetch"]["mboxes"][0]["options"][0]["eventToken"]
    # A display notification of the QA experience is acknowledged, as at.js sends it.
    body = _request("qa-visitor.0", {"token": token}, "side")
    body["notifications"] = [
        {
            "id": "n2",
            "type": "display",
            "timestamp": 1_768_478_400_000,
            "mbox": {"name": "hero"},
            "tokens": [event_token],
        }
    ]
    response = await world.http.post(DELIVERY, json=body)
    assert response.status_code == 200, response.text
    assert [n["id"] for n in response.json()["notifications"]] == ["n2"]

    assert _rows(world, "SELECT count(*) FROM visitor_assignments") == [(0,)]
    events = _rows(world, "SELECT event_key, kind, activity_id, qa FROM events")
    assert events, "QA calls keep their events"
    assert all(qa and key.startswith("qa:") for key, _, _, qa in events), events
    shown = {(kind, activity) for _, kind, activity, _ in events}
    assert ("impression", scene["ab"]) in shown and ("display", scene["ab"]) in shown

    # The same visitor's real traffic is assigned and counted as usual.
    await _contents(world, _request("qa-visitor.0", None, "hero"))
    assert _rows(world, "SELECT count(*) FROM visitor_assignments")[0][0] == 1
    assert _rows(world, "SELECT count(*) FROM events WHERE qa = false")[0][0] >= 1


async def test_bad_tokens_are_a_400_that_records_nothing(
    world: World, scene: dict[str, Any], clock: FakeClock
) -> None:
    world.tenant("beta")
    beta = await world.credential("beta", "approver")
    beta_offer = await offer(world.http, beta, "beta", tenant="beta")
    created = await world.http.post(
        "/beta/target/activities/ab", json=ab_body([beta_offer]), headers=v3(beta)
    )
    beta_links = await _links(world, beta, f"beta/target/activities/ab/{created.json()['id']}")
    good = scene["links"][0]["qaMode"]["token"]
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    before = _rows(world, "SELECT count(*) FROM event_log")
    cases = [
        ({"token": beta_links[0]["qaMode"]["token"]}, "qaMode.token: the token belongs to another"),
        ({"token": tampered}, "qaMode.token: the token's signature does not verify"),
        ({"token": "not-a-token"}, "qaMode.token: not a QA token"),
        ({"token": good, "previewIndexes": []}, "qaMode.previewIndexes: must not be empty"),
        ({"token": good, "previewIndexes": [{"activityIndex": 0}]}, "qaMode.previewIndexes[0]"),
        ({"token": ""}, "qaMode.token: must not be blank"),
        ({"token": good, "evaluateAsTrueAudienceIds": ["7"]}, "qaMode.evaluateAsTrueAudience"),
    ]
    for qa, message in cases:
        response = await world.http.post(DELIVERY, json=_request("bad.0", qa, "hero"))
        assert response.status_code == 400, (qa, response.text)
        body = response.json()
        assert body["status"] == 400 and body["message"].startswith(message), body
    clock.advance(days=31)
    response = await world.http.post(DELIVERY, json=_request("bad.0", {"token": good}, "hero"))
    assert response.status_code == 400
    assert "expired" in response.json()["message"]
    assert _rows(world, "SELECT count(*) FROM event_log") == before

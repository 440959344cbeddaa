"""QA links (Adobe Admin API ``POST /activities/{ab|xt|autoallocate}/{id}/qamode``)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from cible.delivery import qa_token
from cible.tenants import service as tenants
from cible.tenants.event_keys import event_token_keys
from tests.activities._kit import V1, V3, ab_body, audience, offer, v3, xt_body
from tests.conftest import BACKENDS, Credential, FakeClock, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


def _keys(world: World) -> tuple[int, tuple[bytes, ...]]:
    with world.database.session() as s:
        tenant = tenants.get_tenant(s, "acme").id
        return tenant, event_token_keys(s, tenant, now=FakeClock().now)


async def test_a_link_per_experience_for_a_saved_activity(
    world: World, acme: Credential, clock: FakeClock
) -> None:
    offers = [await offer(world.http, acme, f"qa-{i}") for i in range(2)]
    # Saved (never approved) and scheduled to start next year: QA is how it is checked.
    body = ab_body(offers, startsAt="2027-01-01T00:00:00Z")
    created = await world.http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    activity = created.json()["id"]
    assert created.json()["state"] == "saved"

    response = await world.http.post(
        f"/acme/target/activities/ab/{activity}/qamode",
        json={"url": "https://shop.example/home?lang=fr", "audienceIdsEvaluatedAsTrue": [7, 8]},
        headers=v3(acme),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == V3
    links = response.json()["qaModeExperiences"]
    assert [link["experienceLocalId"] for link in links] == [0, 1]
    tenant, keys = _keys(world)
    for index, link in enumerate(links, start=1):
        url = urlsplit(link["url"])
        assert (url.scheme, url.netloc, url.path) == ("https", "shop.example", "/home")
        query = parse_qs(url.query)
        assert query["lang"] == ["fr"]
        assert query["at_preview_index"] == [f"1_{index}"]
        assert query["at_preview_listed_activities_only"] == ["true"]
        assert query["at_preview_evaluate_as_true_audience_ids"] == ["7_8"]
        token = query["at_preview_token"][0]
        assert link["qaMode"] == {
            "token": token,
            "previewIndexes": [{"activityIndex": 1, "experienceIndex": index}],
            "listedActivitiesOnly": True,
            "evaluateAsTrueAudienceIds": [7, 8],
        }
        grant = qa_token.read(token, tenant, now=clock.now.timestamp(), keys=keys)
        assert grant.activities == ((activity, index),)
        # The link lasts QA_LINK_DAYS; after that the token is refused.
        later = (clock.now + timedelta(days=31)).timestamp()
        with pytest.raises(qa_token.QaTokenError, match="expired"):
            qa_token.read(token, tenant, now=later, keys=keys)
        with pytest.raises(qa_token.QaTokenError, match="another client"):
            qa_token.read(token, tenant + 1, now=clock.now.timestamp(), keys=keys)
        with pytest.raises(qa_token.QaTokenError, match="signature"):
            qa_token.read(token, tenant, now=clock.now.timestamp(), keys=(b"x" * 32,))


async def test_xt_and_autoallocate_links(world: World, acme: Credential) -> None:
    offers = [await offer(world.http, acme, f"qa-xt-{i}") for i in range(2)]
    gold = audience(world.database, "acme", "gold")
    created = await world.http.post(
        "/acme/target/activities/xt", json=xt_body(offers, [gold]), headers=v3(acme)
    )
    xt = created.json()["id"]
    response = await world.http.post(
        f"/acme/target/activities/xt/{xt}/qamode",
        json={"currentActivityOnly": False, "audienceIdsEvaluatedAsFalse": [gold]},
        headers=v3(acme),
    )
    assert response.status_code == 200, response.text
    links = response.json()["qaModeExperiences"]
    assert len(links) == 2
    query = parse_qs(urlsplit(links[0]["url"]).query)
    # No page given: the parameters to append to one.
    assert links[0]["url"].startswith("?at_preview_token=")
    assert "at_preview_listed_activities_only" not in query
    assert query["at_preview_evaluate_as_false_audience_ids"] == [str(gold)]

    auto = {**ab_body(offers, name="Auto"), "autoAllocateTraffic": {}}
    made = await world.http.post(
        "/acme/target/activities/autoallocate",
        json=auto,
        headers={**acme.headers, "Content-Type": V1, "Accept": V1},
    )
    assert made.status_code == 201, made.text
    auto_id = made.json()["id"]
    response = await world.http.post(
        f"/acme/target/activities/autoallocate/{auto_id}/qamode",
        json={},
        headers={**acme.headers, "Content-Type": V1, "Accept": V1},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["qaModeExperiences"]) == 2
    # An auto-allocate activity is an A/B one too; an XT id is not an A/B activity.
    wrong = await world.http.post(
        f"/acme/target/activities/ab/{xt}/qamode", json={}, headers=v3(acme)
    )
    assert wrong.status_code == 404


async def test_bad_requests(world: World, acme: Credential) -> None:
    offers = [await offer(world.http, acme, "qa-bad")]
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body(offers), headers=v3(acme)
    )
    path = f"/acme/target/activities/ab/{created.json()['id']}/qamode"
    both = {"audienceIdsEvaluatedAsTrue": [1], "audienceIdsEvaluatedAsFalse": [1]}
    for body in (both, {"url": "javascript:alert(1)"}, {"bogus": True}, {"url": 3}):
        response = await world.http.post(path, json=body, headers=v3(acme))
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["errorCode"]
    deleted = await world.http.delete(path.removesuffix("/qamode"), headers=v3(acme))
    assert deleted.status_code == 200
    gone = await world.http.post(path, json={}, headers=v3(acme))
    assert gone.status_code == 404

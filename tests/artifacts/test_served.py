"""``GET /{client}/{environment}/v1/rules.json``: built by the rebuild job, cached, public."""

from __future__ import annotations

import contextlib
import gzip
import json

import pytest
from delivery_api_client import Configuration
from sqlalchemy import update

from cible.activities.audiences.tables import Audience
from cible.artifacts import store
from cible.artifacts.tasks import environments_of
from cible.jobs import run_pending
from cible.tenants import service as tenants
from tests.activities._kit import ab_body, audience, offer, pending_rebuilds, v3
from tests.artifacts._adobe import Visitor, chosen, on_device_client, stub_delivery_server
from tests.conftest import BACKENDS, Credential, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

RULES = "/acme/production/v1/rules.json"


async def _approved(world: World, cred: Credential, name: str = "Hero test") -> int:
    a = await offer(world.http, cred, f"Offer for {name}")
    r = await world.http.post(
        "/acme/target/activities/ab",
        json=ab_body([a], name=name, state="approved"),
        headers=v3(cred),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_empty_artifact_without_activities(world: World, acme: Credential) -> None:
    response = await world.http.get(RULES)
    assert response.status_code == 200
    artifact = response.json()
    assert artifact["meta"]["clientCode"] == "acme"
    assert artifact["meta"]["environment"] == "production"
    assert artifact["rules"] == {"mboxes": {}, "views": {}}
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["etag"].startswith('"')


async def test_approved_activity_reaches_the_artifact(world: World, acme: Credential) -> None:
    empty = await world.http.get(RULES)
    aid = await _approved(world, acme)
    # No rebuild has stored an artifact yet: it is compiled on request.
    unbuilt = await world.http.get(RULES)
    assert [r["meta"]["activity.id"] for r in unbuilt.json()["rules"]["mboxes"]["hero"]] == [aid]
    assert unbuilt.headers["etag"] != empty.headers["etag"]
    assert (await world.http.get(RULES)).headers["etag"] == unbuilt.headers["etag"]
    assert run_pending(world.database) == 1
    after = await world.http.get(RULES)
    rules = after.json()["rules"]["mboxes"]["hero"]
    assert [r["meta"]["activity.id"] for r in rules] == [aid]
    assert rules[0]["consequence"]["options"][0]["content"] == "<p>Offer for Hero test</p>"
    staging = await world.http.get("/acme/staging/v1/rules.json")
    assert "hero" in staging.json()["rules"]["mboxes"]


async def test_new_environment_is_served_before_any_rebuild(world: World, acme: Credential) -> None:
    aid = await _approved(world, acme)
    run_pending(world.database)
    created = await world.http.post(
        "/acme/target/environments", json={"name": "QA"}, headers=acme.headers
    )
    assert created.status_code == 201, created.text
    qa = await world.http.get("/acme/qa/v1/rules.json")
    assert qa.status_code == 200
    assert qa.json()["meta"]["environment"] == "qa"
    assert [r["meta"]["activity.id"] for r in qa.json()["rules"]["mboxes"]["hero"]] == [aid]


async def test_old_artifact_served_until_the_job_runs(world: World, acme: Credential) -> None:
    first = await _approved(world, acme, "First")
    run_pending(world.database)
    served = await world.http.get(RULES)
    second = await _approved(world, acme, "Second")
    still = await world.http.get(RULES)
    assert still.content == served.content
    assert still.headers["etag"] == served.headers["etag"]
    run_pending(world.database)
    rules = (await world.http.get(RULES)).json()["rules"]["mboxes"]["hero"]
    assert sorted(r["meta"]["activity.id"] for r in rules) == [first, second]
    # Deactivating takes it out, again only once the job ran.
    await world.http.put(
        f"/acme/target/activities/{first}/state",
        json={"state": "deactivated"},
        headers=acme.headers,
    )
    assert len((await world.http.get(RULES)).json()["rules"]["mboxes"]["hero"]) == 2
    run_pending(world.database)
    rules = (await world.http.get(RULES)).json()["rules"]["mboxes"]["hero"]
    assert [r["meta"]["activity.id"] for r in rules] == [second]


async def test_etag_and_304(world: World, acme: Credential) -> None:
    await _approved(world, acme)
    run_pending(world.database)
    first = await world.http.get(RULES)
    etag = first.headers["etag"]
    cached = await world.http.get(RULES, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    weak = await world.http.get(RULES, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    stale = await world.http.get(RULES, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200
    # A rebuild that changes nothing keeps the ETag (same bytes).
    with world.database.session() as s:
        tenant_id = tenants.get_tenant(s, "acme").id
        stored = store.current(s, tenant_id, "production")
    assert stored is not None and stored.etag == etag
    assert json.loads(stored.body) == first.json()


async def test_gzip_when_accepted(world: World, acme: Credential) -> None:
    await _approved(world, acme)
    run_pending(world.database)
    plain = await world.http.get(RULES, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = await world.http.get(RULES, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == plain.content  # httpx decodes it
    raw = await world.http.get(RULES, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in raw.headers
    # The bytes on the wire are gzip.
    async with world.http.stream("GET", RULES, headers={"Accept-Encoding": "gzip"}) as response:
        wire = b"".join([chunk async for chunk in response.aiter_raw()])
    assert gzip.decompress(wire) == plain.content


async def test_unknown_client_environment_property_are_404(world: World, acme: Credential) -> None:
    for path in (
        "/nobody/production/v1/rules.json",
        "/acme/moon/v1/rules.json",
        "/acme/production/v1/not-a-token/rules.json",
    ):
        response = await world.http.get(path)
        assert response.status_code == 404, path
        body = response.json()
        assert body["httpStatus"] == 404
        assert body["errors"][0]["errorCode"] == "Not.Found"


async def test_environment_ids_limit_an_activity(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "Staging only")
    with world.database.session() as s:
        staging_id = dict(
            (name, env_id) for env_id, name in environments_of(s, tenants.get_tenant(s, "acme").id)
        )["staging"]
    r = await world.http.post(
        "/acme/target/activities/ab",
        json=ab_body([a], state="approved", environmentIds=[staging_id]),
        headers=v3(acme),
    )
    assert r.status_code == 201, r.text
    run_pending(world.database)
    production = (await world.http.get(RULES)).json()
    staging = (await world.http.get("/acme/staging/v1/rules.json")).json()
    assert production["rules"]["mboxes"] == {}
    assert "hero" in staging["rules"]["mboxes"]


async def test_unknown_environment_id_is_refused(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    r = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a], environmentIds=[424242]), headers=v3(acme)
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"].startswith("environmentIds[0]: ")


async def test_property_token_artifacts(world: World, acme: Credential) -> None:
    created = await world.http.post(
        "/acme/target/properties", json={"name": "Shop", "channel": "web"}, headers=acme.headers
    )
    assert created.status_code == 201, created.text
    prop = created.json()
    # Before any rebuild, the token serves the tokenless artifact.
    assert (
        await world.http.get(f"/acme/production/v1/{prop['token']}/rules.json")
    ).status_code == 200
    everywhere = await _approved(world, acme, "Everywhere")
    a = await offer(world.http, acme, "Shop only")
    r = await world.http.post(
        "/acme/target/activities/ab",
        json=ab_body([a], name="Shop only", state="approved", propertyIds=[prop["id"]]),
        headers=v3(acme),
    )
    assert r.status_code == 201, r.text
    shop_only = r.json()["id"]
    run_pending(world.database)
    plain = (await world.http.get(RULES)).json()["rules"]["mboxes"]["hero"]
    assert [rule["meta"]["activity.id"] for rule in plain] == [everywhere]
    tokened = await world.http.get(f"/acme/production/v1/{prop['token']}/rules.json")
    ids = sorted(rule["meta"]["activity.id"] for rule in tokened.json()["rules"]["mboxes"]["hero"])
    assert ids == [everywhere, shop_only]
    bad = await world.http.post(
        "/acme/target/activities/ab",
        json=ab_body([a], propertyIds=[prop["id"] + 1000]),
        headers=v3(acme),
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["message"].startswith("propertyIds[0]: ")


async def test_offer_edit_reaches_the_artifact(world: World, acme: Credential) -> None:
    await _approved(world, acme)
    run_pending(world.database)
    offers = (await world.http.get("/acme/target/offers", headers=acme.headers)).json()["offers"]
    edited = await world.http.put(
        f"/acme/target/offers/content/{offers[0]['id']}",
        json={"name": offers[0]["name"], "content": "<p>New copy</p>"},
        headers=acme.headers,
    )
    assert edited.status_code == 200
    assert run_pending(world.database) == 1
    rules = (await world.http.get(RULES)).json()["rules"]["mboxes"]["hero"]
    assert rules[0]["consequence"]["options"][0]["content"] == "<p>New copy</p>"


async def test_a_broken_activity_does_not_block_the_others(world: World, acme: Credential) -> None:
    gold = audience(world.database, "acme", "Gold")
    a = await offer(world.http, acme, "Gold offer")
    body = ab_body([a], name="Gold only", state="approved")
    body["experiences"][0]["audienceIds"] = [gold]
    r = await world.http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert r.status_code == 201, r.text
    good = await _approved(world, acme, "Everyone")
    # The rule goes bad behind the API's back (an older release, a manual edit).
    with world.database.session() as s:
        s.execute(update(Audience).where(Audience.id == gold).values(target_rule='{"x": 1}'))
    assert run_pending(world.database) == 1
    assert pending_rebuilds(world.database) == []
    rules = (await world.http.get(RULES)).json()["rules"]["mboxes"]["hero"]
    assert [rule["meta"]["activity.id"] for rule in rules] == [good]


async def test_adobe_sdk_decides_from_the_served_artifact(world: World, acme: Credential) -> None:
    """Admin API -> rebuild job -> rules.json -> Adobe's target-python-sdk, unmodified."""
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a, b], state="approved"), headers=v3(acme)
    )
    aid = created.json()["id"]
    run_pending(world.database)
    artifact = (await world.http.get(RULES, headers={"Accept-Encoding": "gzip"})).json()
    seen: dict[int, str] = {}
    # The SDK's generated client keeps the first Configuration made in the process as a default
    # for every later one (delivery_api_client.configuration.TypeWithDefault): start from none,
    # and leave none behind, so that this client and later tests' reach their own servers.
    Configuration.set_default(None)
    with stub_delivery_server() as stub, contextlib.ExitStack() as cleanup:
        cleanup.callback(Configuration.set_default, None)
        client = on_device_client(artifact, stub)
        for n in range(100):
            visitor = Visitor(tnt_id=f"{n:032x}", browser="chrome", url=URLS_HOME, tier=None)
            response = client.get_offers({"request": visitor.request(mboxes=("hero",))})
            mbox = response["response"].prefetch.mboxes[0]
            picked = chosen(mbox)
            assert picked is not None and picked[0] == aid
            seen[picked[1]] = mbox.options[0].content
    assert seen == {0: "<p>A</p>", 1: "<p>B</p>"}


URLS_HOME = "https://www.example.com/home"


async def test_browsers_of_any_origin_may_fetch_the_artifact(
    world: World, acme: Credential
) -> None:
    await _approved(world, acme)
    run_pending(world.database)
    page = {"Origin": "https://shop.example"}
    fetched = await world.http.get(RULES, headers=page)
    assert fetched.status_code == 200
    assert fetched.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in fetched.headers
    assert "ETag" in fetched.headers["access-control-expose-headers"]
    cached = await world.http.get(RULES, headers={**page, "If-None-Match": fetched.headers["etag"]})
    assert cached.status_code == 304
    assert cached.headers["access-control-allow-origin"] == "*"
    asked = {
        **page,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match",
    }
    preflight = await world.http.options(RULES, headers=asked)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "if-none-match"

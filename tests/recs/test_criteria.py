"""Criteria through the Recommendations API, trained by the job queue, served by ``recommend``."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cible.jobs import run_pending
from cible.recs.criteria import recommend
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import Credential, FakeClock
from tests.delivery import _scenario as sc

pytestmark = pytest.mark.anyio
V1 = "application/vnd.adobe.target.v1+json"
BASE = "/acme/target/recs/criteria"


@pytest.fixture
def clock() -> FakeClock:
    """The real time: training jobs run when due and read the lookback window from now."""
    return FakeClock(datetime.now(UTC))


def _h(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V1, "Accept": V1}


async def create(http: httpx.AsyncClient, cred: Credential, group: str, body: Any) -> Any:
    """Create a criteria and ask for its training (run by ``run_pending``)."""
    response = await http.post(f"{BASE}/{group}", json=body, headers=_h(cred))
    assert response.status_code == 201, response.text
    created = response.json()
    queued = await http.post(f"{BASE}/{group}/{created['id']}/train", headers=_h(cred))
    assert queued.status_code == 202, queued.text
    assert queued.json()["trainingStatus"] == "SCHEDULED"
    return created


async def deliver(http: httpx.AsyncClient, tnt: str | None, **parameters: str) -> str:
    body = sc.request(
        tnt, execute={"mboxes": [{"index": 0, "name": "product", "parameters": parameters}]}
    )
    response = await http.post("/rest/v1/delivery?client=acme&sessionId=s1", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"]["tntId"])


async def save_entities(http: httpx.AsyncClient, cred: Credential, *entities: Any) -> None:
    response = await http.post(
        "/acme/target/recs/entities", json={"entities": list(entities)}, headers=_h(cred)
    )
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text


def item(entity_id: str, **attributes: Any) -> dict[str, Any]:
    category = attributes.pop("category", "shoes")
    return {"id": entity_id, "name": entity_id, "categories": [category], "attributes": attributes}


def tenant_id(database: Database) -> int:
    with database.session() as s:
        return tenants.get_tenant(s, "acme").id


VIEWED_CF = {"name": "Viewed this viewed that", "type": "VIEWED_CF", "key": "CURRENT"}


async def test_create_read_list_update_delete(http: httpx.AsyncClient, acme: Credential) -> None:
    body = {**VIEWED_CF, "daysCount": "TWO_WEEKS", "criteriaTitle": "You may like"}
    created = await create(http, acme, "item", body)
    assert created["criteriaGroup"] == "ITEM" and created["daysCount"] == "TWO_WEEKS"
    assert created["trainingStatus"] == "NOT_RUN" and created["lastTrained"] is None
    cid = created["id"]
    got = await http.get(f"{BASE}/item/{cid}", headers=_h(acme))
    assert got.json()["criteriaTitle"] == "You may like"
    minimal = (await http.get(f"{BASE}/{cid}", headers=_h(acme))).json()
    assert minimal == {
        "id": cid,
        "name": body["name"],
        "criteriaTitle": "You may like",
        "criteriaGroup": "ITEM",
    }
    await create(http, acme, "popularity", {"name": "Top sellers", "type": "SELLERS"})
    everything = (await http.get(BASE, headers=_h(acme))).json()
    assert everything["total"] == 2 and {c["criteriaGroup"] for c in everything["list"]} == {
        "ITEM",
        "POPULARITY",
    }
    items_only = (await http.get(f"{BASE}/item", headers=_h(acme))).json()
    assert [c["id"] for c in items_only["list"]] == [cid]
    named = (await http.get(BASE, params={"name": "SELLERS"}, headers=_h(acme))).json()
    assert [c["name"] for c in named["list"]] == ["Top sellers"]
    ordered = (await http.get(BASE, params={"orderby": "-name"}, headers=_h(acme))).json()
    assert [c["name"] for c in ordered["list"]] == [body["name"], "Top sellers"]
    changed = {**created, "name": "Renamed", "daysCount": "ONE_WEEK"}
    put = await http.put(f"{BASE}/item/{cid}", json=changed, headers=_h(acme))
    assert put.status_code == 200, put.text
    assert put.json()["name"] == "Renamed" and put.json()["daysCount"] == "ONE_WEEK"
    wrong_group = await http.get(f"{BASE}/popularity/{cid}", headers=_h(acme))
    assert wrong_group.status_code == 404
    deleted = await http.delete(f"{BASE}/item/{cid}", headers=_h(acme))
    assert deleted.status_code == 200 and deleted.json()["id"] == cid
    assert (await http.get(f"{BASE}/item/{cid}", headers=_h(acme))).status_code == 404


@pytest.mark.parametrize(
    ("group", "body", "field"),
    [
        ("item", {**VIEWED_CF}, "daysCount"),
        ("item", {**VIEWED_CF, "daysCount": "ONE_WEEK", "key": "FAVORITE"}, "key"),
        ("item", {**VIEWED_CF, "daysCount": "ONE_WEEK", "type": "SITE_AFFINITY"}, "type"),
        ("item", {**VIEWED_CF, "daysCount": "ONE_WEEK", "hoursCount": 6}, "hoursCount"),
        ("item", {**VIEWED_CF, "daysCount": "THREE_DAYS"}, "daysCount"),
        (
            "popularity",
            {"name": "p", "type": "VIEWED", "daysCount": "ONE_DAY", "hoursCount": 6},
            "hoursCount",
        ),
        ("recent", {"name": "r", "daysCount": "ONE_DAY"}, "daysCount"),
        ("cart", {"name": "c", "type": "VIEWED"}, "criteriaGroup"),
        ("popularity", {"name": "p", "type": "VIEWED", "unknown": 1}, "unknown"),
        (
            "popularity",
            {
                "name": "p",
                "type": "VIEWED",
                "configuration": {
                    "inclusionRules": [{"attribute": "brand", "operation": "dynamicallyMatches"}]
                },
            },
            "configuration.inclusionRules[0].source",
        ),
        (
            "popularity",
            {
                "name": "p",
                "type": "VIEWED",
                "configuration": {
                    "inclusionRules": [
                        {
                            "attribute": "brand",
                            "operation": "equals",
                            "source": {"type": "COOKIE", "name": "brand"},
                        }
                    ]
                },
            },
            "configuration.inclusionRules[0].source.type",
        ),
    ],
)
async def test_bad_criteria_are_400_and_store_nothing(
    http: httpx.AsyncClient, acme: Credential, group: str, body: Any, field: str
) -> None:
    response = await http.post(f"{BASE}/{group}", json=body, headers=_h(acme))
    assert response.status_code == 400, response.text
    assert field in response.text
    assert (await http.get(BASE, headers=_h(acme))).json()["total"] == 0


async def test_unknown_group_is_404(http: httpx.AsyncClient, acme: Credential) -> None:
    response = await http.post(f"{BASE}/bogus", json={"name": "x"}, headers=_h(acme))
    assert response.status_code == 404
    assert (await http.get(f"{BASE}/bogus", headers=_h(acme))).status_code == 404


async def test_names_are_unique_per_tenant(http: httpx.AsyncClient, acme: Credential) -> None:
    await create(http, acme, "popularity", {"name": "Top", "type": "VIEWED"})
    again = await http.post(
        f"{BASE}/popularity", json={"name": "Top", "type": "SELLERS"}, headers=_h(acme)
    )
    assert again.status_code == 409


@pytest.fixture
async def shop(app: Any, acme: Credential, http: httpx.AsyncClient) -> Credential:
    sc.install(app, sc.artifact())
    await save_entities(
        http,
        acme,
        item("a", brand="Acme", value=10, inventory=5),
        item("b", brand="Acme", value=20, inventory=0),
        item("c", brand="Zed", value=30),
        item("d", brand="Acme", value=11, inventory=9),
        item("e", brand="Zed", value=12, category="hats"),
    )
    return acme


async def test_item_based_criteria_train_then_serve_with_filters(
    http: httpx.AsyncClient, shop: Credential, database: Database, clock: FakeClock
) -> None:
    # Visitors who view "a" also view "b", "c" and "d" (b most often), never "e".
    for n in range(4):
        tnt = await deliver(http, None, **{"entity.id": "a"})
        await deliver(http, tnt, **{"entity.id": "b"})
        if n < 3:
            await deliver(http, tnt, **{"entity.id": "c"})
        if n < 2:
            await deliver(http, tnt, **{"entity.id": "d"})
    await deliver(http, None, **{"entity.id": "e"})
    plain = await create(http, shop, "item", {**VIEWED_CF, "daysCount": "ONE_WEEK"})
    same_brand = await create(
        http,
        shop,
        "item",
        {
            **VIEWED_CF,
            "name": "Same brand, in stock",
            "daysCount": "ONE_WEEK",
            "minInventory": 1,
            "backupDisabled": True,
            "partialDesignAllowed": True,
            "configuration": {
                "inclusionRules": [
                    {
                        "attribute": "brand",
                        "operation": "equals",
                        "source": {"type": "ENTITY", "name": "brand"},
                    }
                ]
            },
        },
    )
    tid = tenant_id(database)
    with database.session() as s:
        assert recommend(s, tid, plain["id"], key_item_id="a", visitor_id=None, limit=3) == []
    assert run_pending(database) == 2
    trained = (await http.get(f"{BASE}/item/{plain['id']}", headers=_h(shop))).json()
    assert trained["trainingStatus"] == "SUCCESS" and trained["lastTrained"]
    with database.session() as s:
        ranked = recommend(s, tid, plain["id"], key_item_id="a", visitor_id=None, limit=3)
        assert ranked == ["b", "c", "d"]
        # Same brand as "a" (Acme) and in stock: "b" has no stock, "c" is Zed; "d" remains.
        assert recommend(s, tid, same_brand["id"], key_item_id="a", visitor_id=None, limit=3) == [
            "d"
        ]
        # Without partial designs, too few results give nothing (default content).
        strict = {**same_brand, "partialDesignAllowed": False}
    put = await http.put(f"{BASE}/item/{same_brand['id']}", json=strict, headers=_h(shop))
    assert put.status_code == 200, put.text
    with database.session() as s:
        assert recommend(s, tid, same_brand["id"], key_item_id="a", visitor_id=None, limit=3) == []


async def test_backup_fills_free_slots_from_the_weeks_most_viewed(
    http: httpx.AsyncClient, shop: Credential, database: Database, clock: FakeClock
) -> None:
    tnt = await deliver(http, None, **{"entity.id": "a"})
    await deliver(http, tnt, **{"entity.id": "b"})
    for _ in range(3):
        await deliver(http, None, **{"entity.id": "e"})
    criteria = await create(http, shop, "item", {**VIEWED_CF, "daysCount": "ONE_WEEK"})
    run_pending(database)
    tid = tenant_id(database)
    with database.session() as s:
        got = recommend(
            s,
            tid,
            criteria["id"],
            key_item_id="a",
            visitor_id=None,
            limit=2,
            rng=random.Random(1),
        )
    # "b" from the algorithm first, then a backup that is neither the key nor "b".
    assert got[0] == "b" and got[1] == "e"


async def test_popularity_recent_and_keys_from_the_visitors_behaviour(
    http: httpx.AsyncClient, shop: Credential, database: Database, clock: FakeClock
) -> None:
    tnt = await deliver(http, None, **{"entity.id": "c"})
    for entity in ("a", "c", "e"):
        await deliver(http, tnt, **{"entity.id": entity})
    other = await deliver(http, None, **{"entity.id": "c"})
    await deliver(http, other, productPurchasedId="d")
    await deliver(http, other, productPurchasedId="d")
    await deliver(http, None, productPurchasedId="a")
    top_viewed = await create(http, shop, "popularity", {"name": "Viewed", "type": "VIEWED"})
    sellers = await create(
        http,
        shop,
        "popularity",
        {
            "name": "Sellers",
            "type": "SELLERS",
            "backupDisabled": True,
            "partialDesignAllowed": True,
        },
    )
    recent = await create(
        http,
        shop,
        "recent",
        {"name": "Recent", "backupDisabled": True, "partialDesignAllowed": True},
    )
    by_category = await create(
        http,
        shop,
        "category",
        {
            "name": "Favourite category",
            "type": "VIEWED",
            "key": "FAVORITE",
            "backupDisabled": True,
            "partialDesignAllowed": True,
        },
    )
    run_pending(database)
    tid = tenant_id(database)
    visitor = tnt.split(".")[0]
    with database.session() as s:
        assert recommend(s, tid, top_viewed["id"], key_item_id=None, visitor_id=None, limit=3) == [
            "c",
            "a",
            "e",
        ]
        # Two orders of "d", one of "a".
        assert recommend(s, tid, sellers["id"], key_item_id=None, visitor_id=None, limit=5) == [
            "d",
            "a",
        ]
        # Most recent first, the current item left out.
        assert recommend(s, tid, recent["id"], key_item_id="e", visitor_id=visitor, limit=5) == [
            "c",
            "a",
        ]
        # The visitor viewed shoes three times and hats once: shoes, most viewed first.
        assert recommend(
            s, tid, by_category["id"], key_item_id=None, visitor_id=visitor, limit=2
        ) == ["c", "a"]


async def test_similarity_recommends_items_with_similar_attributes(
    http: httpx.AsyncClient, acme: Credential, database: Database, clock: FakeClock
) -> None:
    await save_entities(
        http,
        acme,
        {
            "id": "t1",
            "name": "Trail running shoe",
            "categories": ["shoes:trail"],
            "attributes": {"brand": "Acme"},
        },
        {
            "id": "t2",
            "name": "Trail running shoe light",
            "categories": ["shoes:trail"],
            "attributes": {"brand": "Acme"},
        },
        {
            "id": "h1",
            "name": "Wool winter hat",
            "categories": ["hats"],
            "attributes": {"brand": "Zed"},
        },
    )
    criteria = await create(
        http,
        acme,
        "item",
        {
            "name": "Similar",
            "type": "SIMILARITY",
            "key": "CURRENT",
            "backupDisabled": True,
            "partialDesignAllowed": True,
            "configuration": {"minSimilarity": 0.3},
        },
    )
    run_pending(database)
    with database.session() as s:
        tid = tenant_id(database)
        assert recommend(s, tid, criteria["id"], key_item_id="t1", visitor_id=None, limit=5) == [
            "t2"
        ]
        assert recommend(s, tid, criteria["id"], key_item_id="h1", visitor_id=None, limit=5) == []


async def test_unknown_criteria_and_other_tenants_criteria_give_nothing(
    http: httpx.AsyncClient, shop: Credential, database: Database, world: Any
) -> None:
    criteria = await create(http, shop, "popularity", {"name": "Viewed", "type": "VIEWED"})
    world.tenant("beta")
    with database.session() as s:
        beta = tenants.get_tenant(s, "beta").id
        assert recommend(s, beta, criteria["id"], key_item_id=None, visitor_id=None, limit=3) == []
        assert recommend(s, beta, 10**9, key_item_id=None, visitor_id=None, limit=3) == []


async def test_rules_read_the_visitors_profile_and_the_calls_mbox_parameters(
    http: httpx.AsyncClient, shop: Credential, database: Database, clock: FakeClock
) -> None:
    # The visitor says he prefers Zed (a profile attribute, sent as a profile parameter).
    body = sc.request(
        None,
        execute={
            "mboxes": [{"index": 0, "name": "home", "profileParameters": {"favoriteBrand": "Zed"}}]
        },
    )
    response = await http.post("/rest/v1/delivery?client=acme&sessionId=s1", json=body)
    assert response.status_code == 200, response.text
    visitor = str(response.json()["id"]["tntId"]).split(".")[0]
    for entity in ("a", "b", "c", "d", "e"):
        await deliver(http, None, **{"entity.id": entity})
    common = {"type": "VIEWED", "backupDisabled": True, "partialDesignAllowed": True}
    by_profile = await create(
        http,
        shop,
        "popularity",
        {
            **common,
            "name": "Favourite brand",
            "configuration": {
                "inclusionRules": [
                    {
                        "attribute": "brand",
                        "operation": "equals",
                        "source": {"type": "PROFILE", "name": "profile.favoriteBrand"},
                    }
                ]
            },
        },
    )
    by_parameter = await create(
        http,
        shop,
        "popularity",
        {
            **common,
            "name": "Brand on the page",
            "configuration": {
                "inclusionRules": [
                    {
                        "attribute": "brand",
                        "operation": "equals",
                        "source": {"type": "MBOX", "name": "mbox.brand"},
                    },
                    # ANDed with a static rule: c (Zed, value 30) is left out.
                    {"attribute": "value", "operation": "lesserOrEquals", "values": ["20"]},
                ]
            },
        },
    )
    run_pending(database)
    tid = tenant_id(database)
    with database.session() as s:
        every = recommend(s, tid, by_profile["id"], key_item_id=None, visitor_id=None, limit=9)
        # Without a profile the rule is ignored (Adobe's default for profile matching).
        assert sorted(every) == ["a", "b", "c", "d", "e"]
        assert sorted(
            recommend(s, tid, by_profile["id"], key_item_id=None, visitor_id=visitor, limit=9)
        ) == ["c", "e"]
        assert sorted(
            recommend(
                s,
                tid,
                by_parameter["id"],
                key_item_id=None,
                visitor_id=None,
                limit=9,
                parameters={"brand": "acme"},
            )
        ) == ["a", "b", "d"]
        assert recommend(
            s,
            tid,
            by_parameter["id"],
            key_item_id=None,
            visitor_id=None,
            limit=9,
            parameters={"brand": '["Zed", "Other"]'},
        ) == ["e"]


async def test_unknown_rule_sources_are_refused(http: httpx.AsyncClient, shop: Credential) -> None:
    for source, field in (
        ({"type": "COOKIE", "name": "x"}, "source.type"),
        ({"type": "MBOX"}, "source.name"),
    ):
        response = await http.post(
            f"{BASE}/popularity",
            json={
                "name": f"bad {field}",
                "type": "VIEWED",
                "configuration": {
                    "inclusionRules": [
                        {"attribute": "brand", "operation": "equals", "source": source}
                    ]
                },
            },
            headers=_h(shop),
        )
        assert response.status_code == 400, response.text
        assert field in response.text


async def test_history_keys_bought_algorithms_lookback_and_user_based(
    http: httpx.AsyncClient, shop: Credential, database: Database, clock: FakeClock
) -> None:
    # Eight days ago: "a" then "e" viewed together (outside a one-week window).
    clock.advance(days=-8)
    for _ in range(3):
        old = await deliver(http, None, **{"entity.id": "a"})
        await deliver(http, old, **{"entity.id": "e"})
    clock.advance(days=8)
    # This week: viewers of "a" buy "c"; buyers of "c" buy "d"; viewers of "d" view "b".
    for _ in range(2):
        tnt = await deliver(http, None, **{"entity.id": "a"})
        await deliver(http, tnt, productPurchasedId="c")
        await deliver(http, tnt, productPurchasedId="d")
    for _ in range(2):
        tnt = await deliver(http, None, **{"entity.id": "d"})
        await deliver(http, tnt, **{"entity.id": "b"})
    # The visitor served below: viewed "d" twice, then "a"; bought "c".
    me = await deliver(http, None, **{"entity.id": "d"})
    await deliver(http, me, **{"entity.id": "d"})
    await deliver(http, me, **{"entity.id": "a"})
    await deliver(http, me, productPurchasedId="c")
    visitor = me.split(".")[0]
    loose = {"backupDisabled": True, "partialDesignAllowed": True, "daysCount": "ONE_WEEK"}

    async def item_criteria(name: str, kind: str, key: str) -> int:
        body = {**loose, "name": name, "type": kind, "key": key}
        return int((await create(http, shop, "item", body))["id"])

    viewed_bought = await item_criteria("vb", "VIEWED_BOUGHT", "CURRENT")
    bought_bought = await item_criteria("bb", "BOUGHT_CF", "LAST_PURCHASED")
    last_viewed = await item_criteria("lv", "VIEWED_CF", "LAST_VIEWED")
    most_viewed = await item_criteria("mv", "VIEWED_CF", "MOST_VIEWED")
    category = await create(
        http,
        shop,
        "category",
        {**loose, "name": "cat", "type": "VIEWED", "key": "CURRENT", "daysCount": "TWO_WEEKS"},
    )
    for_you = await create(http, shop, "userhistory", {**loose, "name": "for you"})
    run_pending(database)
    tid = tenant_id(database)

    def ask(criteria: int, **kw: Any) -> list[str]:
        args: dict[str, Any] = {"key_item_id": None, "visitor_id": visitor, "limit": 3}
        with database.session() as s:
            return recommend(s, tid, criteria, **{**args, **kw})

    # Viewed "a", bought "c" (and "d", bought with it); "e" was viewed with "a" too long ago.
    assert ask(viewed_bought, key_item_id="a") == ["c", "d"]
    # The visitor's last purchase "c": its buyers also bought "d".
    assert ask(bought_bought) == ["d"]
    # Last viewed "a": co-viewed this week with "d" only (the older "e" is outside the window).
    assert ask(last_viewed) == ["d"]
    # Most viewed "d" (twice): co-viewed with "b" and "a".
    assert ask(most_viewed) == ["b", "a"]
    # Current category from the key item "e" (hats): nothing else is a hat; "a" (shoes) gives
    # the shoes most viewed in two weeks, "a" itself left out.
    assert ask(int(category["id"]), key_item_id="e") == []
    assert ask(int(category["id"]), key_item_id="a") == ["d", "b"]
    # Recommended for you: a list for this visitor, from what the model learned.
    personal = ask(int(for_you["id"]), limit=5)
    assert personal and set(personal) <= {"a", "b", "c", "d", "e"}
    assert ask(int(for_you["id"]), visitor_id="nobody") == []


async def test_margin_and_inventory_rules_filter_what_is_recommended(
    app: Any, http: httpx.AsyncClient, acme: Credential, database: Database, clock: FakeClock
) -> None:
    sc.install(app, sc.artifact())
    await save_entities(
        http,
        acme,
        item("rich", margin=35.5, inventory=4),
        item("edge", margin=20, inventory=1),
        item("thin", margin=3.2, inventory=8),
        item("empty", margin=50, inventory=0),
        item("unknown"),  # no margin: a numeric rule cannot hold for it
    )
    for entity in ("rich", "edge", "thin", "empty", "unknown"):
        await deliver(http, None, **{"entity.id": entity})
    criteria = await create(
        http,
        acme,
        "popularity",
        {
            "name": "Profitable, in stock",
            "type": "VIEWED",
            "backupDisabled": True,
            "partialDesignAllowed": True,
            "minInventory": 1,
            "configuration": {
                "inclusionRules": [
                    {"attribute": "margin", "operation": "greaterOrEquals", "values": ["20"]}
                ]
            },
        },
    )
    run_pending(database)
    with database.session() as s:
        found = recommend(
            s, tenant_id(database), criteria["id"], key_item_id=None, visitor_id=None, limit=9
        )
    assert sorted(found) == ["edge", "rich"]

"""Behaviour from delivery calls: entity parameters update the catalog, views and purchases are
stored per visitor, counted per item and day, and folded into the visitor's keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import insert, select

from cible import events
from cible.recs.consumers import BEHAVIOUR
from cible.recs.tables import RecsBehaviour, RecsCriteria, RecsItemDay, RecsModel, RecsVisitor
from cible.recs.training import train_criteria
from cible.store import Database
from cible.tenants.tables import Tenant
from tests.conftest import Credential, FakeClock
from tests.delivery import _scenario as sc

pytestmark = pytest.mark.anyio
V1 = "application/vnd.adobe.target.v1+json"


@pytest.fixture
async def shop(app: Any, acme: Credential) -> Credential:
    sc.install(app, sc.artifact())
    return acme


async def deliver(http: httpx.AsyncClient, tnt: str | None, session: str, **parameters: str) -> str:
    body = sc.request(
        tnt, execute={"mboxes": [{"index": 0, "name": "product", "parameters": parameters}]}
    )
    response = await http.post(f"/rest/v1/delivery?client=acme&sessionId={session}", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"]["tntId"])


async def entity(http: httpx.AsyncClient, cred: Credential, entity_id: str) -> Any:
    headers = {**cred.headers, "Accept": V1}
    return await http.get(f"/acme/target/recs/entities/{entity_id}", headers=headers)


async def test_entity_parameters_create_and_merge_catalog_entries(
    http: httpx.AsyncClient, shop: Credential
) -> None:
    await deliver(
        http,
        None,
        "s1",
        **{
            "entity.id": "shoe-1",
            "entity.name": "Trail shoe",
            "entity.categoryId": "shoes, shoes:trail",
            "entity.value": "119.99",
            "entity.inventory": "329",
            "entity.genre": '["run", "trail"]',
            "entity.environment": "999",
        },
    )
    body = (await entity(http, shop, "shoe-1")).json()
    assert body["name"] == "Trail shoe"
    assert body["categories"] == ["shoes", "shoes:trail"]
    assert body["attributes"]["value"] == 119.99 and body["attributes"]["inventory"] == 329
    assert body["attributes"]["genre"] == ["run", "trail"]
    assert "environment" not in body["attributes"]
    # A later page: categories append, blank values do not clear, bad numbers are left out.
    await deliver(
        http,
        None,
        "s2",
        **{
            "entity.id": "shoe-1",
            "entity.categoryId": "sale",
            "entity.name": "",
            "entity.value": "cheap",
            "entity.margin": "12.5",
        },
    )
    body = (await entity(http, shop, "shoe-1")).json()
    assert body["name"] == "Trail shoe"
    assert body["categories"] == ["shoes", "shoes:trail", "sale"]
    assert body["attributes"]["value"] == 119.99 and body["attributes"]["margin"] == 12.5


async def test_views_and_purchases_are_stored_counted_and_folded(
    http: httpx.AsyncClient, shop: Credential, database: Database, clock: FakeClock
) -> None:
    tnt = await deliver(http, None, "s1", **{"entity.id": "a", "entity.categoryId": "shoes"})
    await deliver(http, tnt, "s1", **{"entity.id": "b", "entity.categoryId": "hats"})
    await deliver(http, tnt, "s1", **{"entity.id": "a"})
    await deliver(http, tnt, "s1", **{"entity.id": "c", "entity.event.detailsOnly": "true"})
    await deliver(http, tnt, "s1", productPurchasedId="a,b")
    clock.advance(hours=1)
    await deliver(http, tnt, "s2", **{"entity.id": "b"})
    with database.session() as s:
        rows = s.execute(
            select(RecsBehaviour.kind, RecsBehaviour.entity_id).order_by(RecsBehaviour.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("view", "a"),
            ("view", "b"),
            ("view", "a"),
            ("buy", "a"),
            ("buy", "b"),
            ("view", "b"),
        ]
        days = {r.entity_id: (r.views, r.buys) for r in s.scalars(select(RecsItemDay))}
        assert days == {"a": (2, 1), "b": (2, 1)}
        visitor = s.scalars(select(RecsVisitor)).one()
        state = orjson.loads(visitor.state)
    assert visitor.last_viewed == "b" and visitor.last_purchased == "b"
    assert state["recent"] == ["a", "b"]
    assert state["purchased"] == ["a", "b"]
    # a: 10 + 5, halved at the new visit; b: 10, halved, then + 5 for the view in the new visit.
    assert state["views"] == {"a": 7.5, "b": 10.0}
    # shoes: 10 + 5 (two views of a), hats: 10; both -1 at the new visit, then hats + 5.
    assert state["categories"] == {"shoes": 14, "hats": 14}
    # The details-only call updated the catalog without counting a view.
    assert (await entity(http, shop, "c")).status_code == 200


async def test_order_purchased_product_ids_count_as_purchases(
    http: httpx.AsyncClient, shop: Credential, database: Database
) -> None:
    body = sc.request(
        None,
        execute={
            "mboxes": [
                {
                    "index": 0,
                    "name": "orderConfirmPage",
                    "order": {"id": "o9", "total": 20, "purchasedProductIds": ["x", " y"]},
                }
            ]
        },
    )
    response = await http.post("/rest/v1/delivery?client=acme&sessionId=s9", json=body)
    assert response.status_code == 200, response.text
    with database.session() as s:
        bought = s.scalars(select(RecsBehaviour.entity_id).where(RecsBehaviour.kind == "buy"))
        assert sorted(bought) == ["x", "y"]


async def test_bad_entity_ids_record_nothing_and_the_call_still_answers(
    http: httpx.AsyncClient, shop: Credential, database: Database
) -> None:
    await deliver(http, None, "s1", **{"entity.id": "has space", "entity.name": "x"})
    await deliver(http, None, "s1", **{"entity.id": "a" * 1001})
    with database.session() as s:
        assert s.scalars(select(RecsBehaviour)).all() == []
    assert (await entity(http, shop, "has%20space")).status_code == 404


async def test_calls_without_entity_parameters_add_no_record(
    http: httpx.AsyncClient, shop: Credential, database: Database
) -> None:
    await deliver(http, None, "s1", color="red")
    with database.session() as s:
        assert s.scalars(select(RecsVisitor)).all() == []


async def test_privacy_exports_then_deletes_a_visitors_behaviour(
    http: httpx.AsyncClient, shop: Credential, database: Database
) -> None:
    tnt = await deliver(http, None, "s1", **{"entity.id": "a", "entity.categoryId": "shoes"})
    other = await deliver(http, None, "s2", **{"entity.id": "b"})
    await deliver(http, tnt, "s1", productPurchasedId="a")
    # An item-based criteria trained on this behaviour keeps co-occurrence counts.
    with database.engine.begin() as conn:
        tenant = conn.scalar(select(Tenant.id).where(Tenant.name == "acme"))
        criteria = conn.execute(
            insert(RecsCriteria).values(
                tenant_id=tenant,
                criteria_group="item",
                name="views",
                body='{"type": "VIEWED_CF", "key": "CURRENT", "daysCount": "ONE_WEEK"}',
                modified_at=datetime.now(UTC),
            )
        ).inserted_primary_key[0]
        train_criteria(conn, tenant, criteria, datetime.now(UTC))
    with database.session() as s:
        assert s.scalars(select(RecsModel)).all() != []
    url = "/acme/target/privacy/visitor"
    exported = await http.get(url, params={"id": tnt}, headers=shop.headers)
    assert exported.status_code == 200, exported.text
    recs = exported.json()["recommendations"]
    assert [(e["kind"], e["entityId"]) for e in recs["events"]] == [("view", "a"), ("buy", "a")]
    assert recs["keys"][0]["lastViewed"] == "a" and recs["keys"][0]["lastPurchased"] == "a"
    deleted = await http.delete(url, params={"id": tnt}, headers=shop.headers)
    assert deleted.json()["deleted"]["recommendations"] == 3  # two events and the keys row
    again = (await http.get(url, params={"id": tnt}, headers=shop.headers)).json()
    assert again["recommendations"] == {"events": [], "keys": []}
    kept = (await http.get(url, params={"id": other}, headers=shop.headers)).json()
    assert len(kept["recommendations"]["events"]) == 1
    # The counts included the deleted visitor: the next training starts over without him.
    with database.session() as s:
        assert s.scalars(select(RecsModel)).all() == []


async def test_a_replayed_log_counts_nothing_twice(
    http: httpx.AsyncClient, shop: Credential, database: Database, clock: FakeClock
) -> None:
    tnt = await deliver(http, None, "s1", **{"entity.id": "a", "entity.categoryId": "shoes"})
    await deliver(http, tnt, "s1", **{"entity.id": "b"})
    # The same item twice in one order is one sale (Adobe: several units count once).
    await deliver(http, tnt, "s1", productPurchasedId="a,a,b")
    clock.advance(hours=1)
    await deliver(http, tnt, "s2", **{"entity.id": "a"})

    def snapshot() -> tuple[Any, ...]:
        with database.session() as s:
            rows = s.execute(
                select(RecsBehaviour.kind, RecsBehaviour.entity_id).order_by(RecsBehaviour.id)
            ).all()
            days = {r.entity_id: (r.views, r.buys) for r in s.scalars(select(RecsItemDay))}
            visitor = s.scalars(select(RecsVisitor)).one()
            return [tuple(r) for r in rows], days, visitor.state, visitor.last_viewed

    before = snapshot()
    assert before[0] == [("view", "a"), ("view", "b"), ("buy", "a"), ("buy", "b"), ("view", "a")]
    assert before[1] == {"a": (2, 1), "b": (1, 1)}
    # The consumer applies the whole log again, as after an offset reset.
    events.reset(database, BEHAVIOUR.name, 0)
    assert events.run_once(database, BEHAVIOUR) >= 4
    assert snapshot() == before

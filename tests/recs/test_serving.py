"""Recommendations served through /rest/v1/delivery: a recs offer in an A/B activity renders
its design over the criteria's items, with promotions, collection and exclusions applied."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from cible.jobs import run_pending
from cible.recs.tables import RecsCriteria, RecsResult
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio
V1 = "application/vnd.adobe.target.v1+json"
V3 = "application/vnd.adobe.target.v3+json"

JSON_DESIGN = (
    '{"key": "$key.id", "title": "$criteria.title", '
    '"slots": ["$entity1.id", "$entity2.id", "$entity3.id", "$entity4.id"]}'
)
HTML_DESIGN = "<ul>\n#foreach($e in $entities)\n  <li>$esc.html($e.name) $e.value</li>\n#end\n</ul>"


def entity(item_id: str, value: float, category: str = "tents", **extra: Any) -> dict[str, Any]:
    name = extra.pop("name", f"Item {item_id}")
    return {
        "id": item_id,
        "name": name,
        "categories": [category],
        "attributes": {"value": value, "inventory": 5, **extra},
    }


CATALOG = [
    entity("k1", 50),
    # what the criteria recommends for k1, best first
    entity("c1", 40),
    entity("c2", 900),  # outside the offer's collection (value <= 100)
    entity("c3", 30, name="Broken tent"),  # globally excluded
    entity("c4", 20),
    entity("c5", 10),
    entity("c6", 5),
    # promoted
    entity("p1", 60, name="Promo <one>"),
    entity("s1", 15, category="sale"),
    entity("s2", 25, category="sale"),
]
TRAINED = ["c1", "c2", "c3", "c4", "c5", "c6", "p1"]


def trained_criteria(database: Database, *, partial: bool = True) -> int:
    """A criteria as training leaves it: its body and its results for the key item k1."""
    with database.session() as s:
        tenant_id = tenants.get_tenant(s, "acme").id
        body = {
            "name": "Also viewed",
            "criteriaTitle": "People also viewed",
            "type": "VIEWED_CF",
            "key": "CURRENT",
            "daysCount": "TWO_WEEKS",
            "partialDesignAllowed": partial,
            "backupDisabled": True,
        }
        row = RecsCriteria(
            tenant_id=tenant_id,
            criteria_group="item",
            name=f"Also viewed {partial}",
            body=json.dumps(body),
        )
        s.add(row)
        s.flush()
        s.add(
            RecsResult(
                criteria_id=row.id,
                key="item:k1",
                tenant_id=tenant_id,
                items=json.dumps(TRAINED),
                trained_ms=int(time.time() * 1000),
            )
        )
        return row.id


async def admin(world: World, cred: Credential, path: str, body: Any, version: str = V1) -> Any:
    headers = {**cred.headers, "Content-Type": version, "Accept": version}
    response = await world.http.post(f"/acme/target{path}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def recs_activity(world: World, cred: Credential, offer: int, mbox: str) -> None:
    await admin(
        world,
        cred,
        "/activities/ab",
        {
            "name": f"Recs on {mbox}",
            "state": "approved",
            "options": [{"optionLocalId": 0, "offerId": offer}],
            "locations": {"mboxes": [{"locationLocalId": 0, "name": mbox}]},
            "experiences": [
                {
                    "experienceLocalId": 0,
                    "name": "Recs",
                    "visitorPercentage": 100,
                    "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
                }
            ],
        },
        V3,
    )


async def setup(world: World, cred: Credential, design: str, design_type: str) -> dict[str, Any]:
    await admin(world, cred, "/recs/entities", {"entities": CATALOG})
    made = await admin(
        world, cred, "/recs/designs", {"name": "D", "script": design, "type": design_type}
    )
    await admin(
        world,
        cred,
        "/recs/exclusions",
        {"name": "Broken", "rule": {"name": {"contains": "broken"}}},
    )
    collection = await admin(
        world,
        cred,
        "/recs/collections",
        {"name": "Cheap", "rules": [{"value": {"lesserOrEquals": [100]}}]},
    )
    front = await admin(
        world, cred, "/recs/promotions", {"name": "Front", "type": "EXTERNAL", "entityIds": ["p1"]}
    )
    back = await admin(
        world,
        cred,
        "/recs/promotions",
        {
            "name": "Sale",
            "type": "EXTERNAL",
            "rules": [{"attribute": "category", "operation": "equals", "values": ["sale"]}],
        },
    )
    return {
        "design": made["id"],
        "collection": collection["id"],
        "front": front["id"],
        "back": back["id"],
    }


async def deliver(world: World, mbox: str, parameters: dict[str, str]) -> dict[str, Any]:
    request = {
        "context": {"channel": "web"},
        "id": {"tntId": "visitor1.0"},
        "execute": {"mboxes": [{"index": 0, "name": mbox, "parameters": parameters}]},
    }
    response = await world.http.post("/rest/v1/delivery?client=acme&sessionId=s1", json=request)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["execute"]["mboxes"][0]
    return result


async def test_a_json_design_serves_promotions_criteria_items_and_filters(
    world: World, acme: Credential
) -> None:
    ids = await setup(world, acme, JSON_DESIGN, "JSON")
    criteria = trained_criteria(world.database)
    offer = await admin(
        world,
        acme,
        "/offers/recs",
        {
            "name": "Recs",
            "criteriaId": criteria,
            "designId": ids["design"],
            "collectionId": ids["collection"],
            "promotions": {
                "front": [{"id": ids["front"], "configuration": {"maxSlots": 1}}],
                "back": [{"id": ids["back"], "configuration": {"maxSlots": 1}}],
            },
        },
    )
    await recs_activity(world, acme, offer["id"], "product-recs")
    assert run_pending(world.database) >= 1
    sdk = (await world.http.get("/acme/production/v1/rules.json")).json()
    assert "product-recs" in sdk["remoteMboxes"]

    served = await deliver(world, "product-recs", {"entity.id": "k1"})
    (option,) = served["options"]
    assert option["type"] == "json"
    # front: p1 (promoted, so not repeated from the criteria); then the criteria's items in the
    # collection and not excluded (c2 too dear, c3 "Broken"); back: the best-valued sale item.
    assert option["content"] == {
        "key": "k1",
        "title": "People also viewed",
        "slots": ["p1", "c1", "c4", "s2"],
    }

    # excludedIds leaves items out for one call
    served = await deliver(world, "product-recs", {"entity.id": "k1", "excludedIds": "c1,s2"})
    assert served["options"][0]["content"]["slots"] == ["p1", "c4", "c5", "s1"]

    # an unknown key item has no criteria results: with partial designs allowed, the
    # promotions alone; empty slots print as written, as Velocity does
    served = await deliver(world, "product-recs", {"entity.id": "nothing"})
    assert served["options"][0]["content"]["slots"] == ["p1", "s2", "$entity3.id", "$entity4.id"]


async def test_an_html_design_renders_escaped_names_and_plain_values(
    world: World, acme: Credential
) -> None:
    ids = await setup(world, acme, HTML_DESIGN, "HTML")
    criteria = trained_criteria(world.database)
    offer = await admin(
        world,
        acme,
        "/offers/recs",
        {
            "name": "Recs",
            "criteriaId": criteria,
            "designId": ids["design"],
            "promotions": {"front": [{"id": ids["front"], "configuration": {"maxSlots": 1}}]},
        },
    )
    await recs_activity(world, acme, offer["id"], "html-recs")
    run_pending(world.database)
    served = await deliver(world, "html-recs", {"entity.id": "k1"})
    (option,) = served["options"]
    assert option["type"] == "html"
    lines = option["content"].splitlines()
    assert lines[0] == "<ul>" and lines[-1] == "</ul>"
    assert lines[1] == "  <li>Promo &lt;one&gt; 60</li>"
    shown = [line.split()[1] for line in lines[2:-1]]
    # no collection on this offer: c2 is shown; c3 stays excluded; p1 appears once
    assert shown == ["c1", "c2", "c4", "c5", "c6"]


async def test_without_partial_designs_a_short_result_shows_nothing(
    world: World, acme: Credential
) -> None:
    ids = await setup(world, acme, JSON_DESIGN, "JSON")
    criteria = trained_criteria(world.database, partial=False)
    offer = await admin(
        world,
        acme,
        "/offers/recs",
        {"name": "Recs", "criteriaId": criteria, "designId": ids["design"]},
    )
    await recs_activity(world, acme, offer["id"], "strict-recs")
    run_pending(world.database)
    full = await deliver(world, "strict-recs", {"entity.id": "k1"})
    assert full["options"][0]["content"]["slots"] == ["c1", "c2", "c4", "c5"]
    short = await deliver(world, "strict-recs", {"entity.id": "k1", "excludedIds": "c1,c2,c4"})
    assert short.get("options", []) == []

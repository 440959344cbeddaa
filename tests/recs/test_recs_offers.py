"""Recommendations offers (``/offers/recs``): what they may point at, and how they compile."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cible.artifacts import compile_artifact
from cible.recs.tables import RecsCriteria
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import Credential

pytestmark = pytest.mark.anyio
V1 = "application/vnd.adobe.target.v1+json"


def _h(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V1, "Accept": V1}


def add_criteria(database: Database, tenant: str, name: str = "Top sellers") -> int:
    with database.session() as s:
        row = RecsCriteria(
            tenant_id=tenants.get_tenant(s, tenant).id,
            criteria_group="popularity",
            name=name,
            body=json.dumps({"name": name, "criteriaTitle": "Best of", "type": "SELLERS"}),
        )
        s.add(row)
        s.flush()
        return row.id


async def post(http: httpx.AsyncClient, cred: Credential, path: str, body: Any) -> Any:
    response = await http.post(f"/acme/target{path}", json=body, headers=_h(cred))
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_recs_offer_names_a_criteria_and_a_design(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    criteria = add_criteria(database, "acme")
    design = await post(http, acme, "/recs/designs", {"name": "D", "script": "$entity1.id"})
    promo = await post(
        http, acme, "/recs/promotions", {"name": "P", "type": "EXTERNAL", "entityIds": ["a"]}
    )
    body = {
        "name": "Recs",
        "criteriaId": criteria,
        "designId": design["id"],
        "promotions": {"front": [{"id": promo["id"], "configuration": {"maxSlots": 2}}]},
    }
    offer = await post(http, acme, "/offers/recs", body)
    assert offer["type"] == "recs" and offer["criteriaId"] == criteria
    assert (
        offer["designId"] == design["id"] and offer["promotions"]["front"][0]["id"] == promo["id"]
    )
    listed = await http.get("/acme/target/offers", params={"type": "recs"}, headers=_h(acme))
    assert [o["id"] for o in listed.json()["offers"]] == [offer["id"]]

    # In use: the criteria, design and promotion cannot be deleted (Adobe: not while
    # referenced).
    in_use = (
        f"/recs/criteria/popularity/{criteria}",
        f"/recs/designs/{design['id']}",
        f"/recs/promotions/{promo['id']}",
    )
    for path in in_use:
        refused = await http.delete(f"/acme/target{path}", headers=_h(acme))
        assert refused.status_code == 409, refused.text
    gone = await http.delete(f"/acme/target/offers/recs/{offer['id']}", headers=_h(acme))
    assert gone.status_code == 200
    freed = await http.delete(f"/acme/target/recs/designs/{design['id']}", headers=_h(acme))
    assert freed.status_code == 200


async def test_a_recs_offer_naming_missing_objects_is_refused(
    http: httpx.AsyncClient, acme: Credential, database: Database, world: Any
) -> None:
    world.tenant("beta")
    theirs = add_criteria(database, "beta")
    design = await post(http, acme, "/recs/designs", {"name": "D", "script": "$entity1.id"})
    for body, field in (
        ({"criteriaId": theirs, "designId": design["id"]}, "criteriaId"),
        ({"criteriaId": add_criteria(database, "acme"), "designId": 999}, "designId"),
        ({"criteriaId": 1, "designId": design["id"], "collectionId": 5}, "collectionId"),
        ({"designId": design["id"]}, "criteriaId"),
    ):
        response = await http.post(
            "/acme/target/offers/recs", json={"name": "X", **body}, headers=_h(acme)
        )
        assert response.status_code == 400, response.text
        assert field in response.text
    listed = await http.get("/acme/target/offers", headers=_h(acme))
    assert listed.json()["total"] == 0


def test_an_activity_with_a_recs_offer_compiles_as_remote() -> None:
    activity = {
        "id": 7,
        "type": "ab",
        "name": "Recs test",
        "state": "approved",
        "options": [{"optionLocalId": 0, "offerId": 3}],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "product-recs"}]},
        "experiences": [
            {
                "experienceLocalId": 0,
                "visitorPercentage": 100,
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            }
        ],
    }
    offers = {3: {"id": 3, "name": "R", "type": "recs", "criteriaId": 4, "designId": 5}}
    args: dict[str, Any] = {
        "client": "acme",
        "environment": "production",
        "activities": [activity],
        "offers": offers,
        "audiences": {},
        "generated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    for_sdk = compile_artifact(**args)
    assert for_sdk["remoteMboxes"] == ["product-recs"]
    assert for_sdk["rules"]["mboxes"] == {}
    server = compile_artifact(**args, include_remote=True)
    (rule,) = server["rules"]["mboxes"]["product-recs"]
    option = rule["consequence"]["options"][0]
    assert option["type"] == "recs"
    assert option["content"] == {"criteriaId": 4, "designId": 5, "offerId": 3}
    assert rule["meta"]["offer.id"] == 3

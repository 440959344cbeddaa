"""Promotions and the rules that pick items: validation, matching, and what delivery promotes."""

from __future__ import annotations

from typing import Any

import pytest

from cible.jobs import run_pending
from cible.recs.entities import Entity
from cible.recs.matchers import (
    check_basic_rule,
    check_inclusion_rule,
    matches_basic,
    matches_inclusion,
)
from tests.conftest import Credential, World
from tests.recs.test_serving import JSON_DESIGN, admin, deliver, recs_activity, trained_criteria

V1 = "application/vnd.adobe.target.v1+json"
TENT = Entity(
    "t1",
    "Blue Tent",
    ("outdoor", "outdoor:tents"),
    1,
    {"value": 120.0, "brand": "Acme", "genre": ["new", "web"]},
)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"name": {"contains": ["blue"]}}, True),  # any case
        ({"name": {"contains": ["red", "tent"]}}, True),  # one value suffices
        ({"name": {"doesNotContain": ["red", "tent"]}}, False),  # negative: none may match
        ({"category": {"equals": ["outdoor:tents"]}}, True),  # one element of a list
        ({"category": {"notEquals": ["outdoor:tents"]}}, False),  # negative: all elements
        ({"genre": {"startsWith": ["we"]}}, True),
        ({"value": {"greaterOrEquals": [100]}, "brand": {"equals": ["acme"]}}, True),
        ({"value": {"lesserOrEquals": [100]}}, False),
        ({"value": {"equals": ["120"]}}, True),  # numbers compare as numbers
        ({"margin": {"valueIsNotPresent": []}}, True),
        ({"margin": {"valueIsPresent": []}}, False),
        ({"margin": {"equals": [1]}}, False),
        ({"margin": {"notEquals": [1]}}, True),
        # Adobe: an item without inventory passes inventory rules (and is excluded by them)
        ({"inventory": {"lesserOrEquals": [0]}}, True),
    ],
)
def test_basic_rules(rule: dict[str, Any], expected: bool) -> None:
    assert matches_basic(TENT, check_basic_rule(rule)) is expected


@pytest.mark.parametrize(
    "rule",
    [
        {},
        {"name": "x"},
        {"name": {"near": ["x"]}},
        {"value": {"greaterOrEquals": ["cheap"]}},
        {"name": {"equals": []}},
        {"name": {"equals": ["x" * 251]}},
        {"entity.name": {"equals": ["x"]}},
    ],
)
def test_bad_basic_rules_are_refused(rule: Any) -> None:
    with pytest.raises(ValueError):
        check_basic_rule(rule)


def test_inclusion_rules_compare_with_the_key_item() -> None:
    same_brand = check_inclusion_rule(
        {
            "attribute": "brand",
            "operation": "dynamicallyMatches",
            "source": {"type": "ENTITY", "name": "brand"},
        }
    )
    near_price = check_inclusion_rule(
        {
            "attribute": "value",
            "operation": "dynamicallyRanges",
            "lowRange": "90%",
            "highRange": "110%",
            "source": {"type": "ENTITY", "name": "value"},
        }
    )

    def key(values: dict[str, Any]) -> Any:
        return lambda kind, name: [values[name]] if kind == "ENTITY" and name in values else None

    assert matches_inclusion(TENT, same_brand, key({"brand": "ACME"}))
    assert not matches_inclusion(TENT, same_brand, key({"brand": "Other"}))
    # an entity source without a value promotes nothing (Adobe's default for entity matching)
    assert not matches_inclusion(TENT, same_brand, key({}))
    assert matches_inclusion(TENT, near_price, key({"value": 115}))
    assert not matches_inclusion(TENT, near_price, key({"value": 200}))
    static = check_inclusion_rule(
        {"attribute": "category", "operation": "isContainedInList", "values": ["outdoor", "x"]}
    )
    assert matches_inclusion(TENT, static)
    with pytest.raises(ValueError):
        check_inclusion_rule({"attribute": "brand", "operation": "dynamicallyMatches"})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "P", "type": "EXTERNAL"}, "entityIds, rules or configuration"),
        ({"name": "P", "type": "INTERNAL", "entityIds": ["a"]}, "type"),
        ({"name": "P", "type": "EXTERNAL", "configuration": {"collectionId": 999}}, "collectionId"),
        (
            {
                "name": "P",
                "type": "EXTERNAL",
                "entityIds": ["a"],
                "schedule": {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            },
            "schedule",
        ),
        (
            {"name": "P", "type": "EXTERNAL", "rules": [{"attribute": "x", "operation": "near"}]},
            "operation",
        ),
    ],
)
async def test_bad_promotions_are_refused(
    world: World, acme: Credential, body: dict[str, Any], field: str
) -> None:
    headers = {**acme.headers, "Content-Type": V1, "Accept": V1}
    response = await world.http.post("/acme/target/recs/promotions", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert field in response.text
    listed = await world.http.get("/acme/target/recs/promotions", headers=headers)
    assert listed.json()["total"] == 0


@pytest.mark.anyio
async def test_delivery_promotes_by_dynamic_rule_and_by_parameter_within_schedule(
    world: World, acme: Credential
) -> None:
    from tests.recs.test_serving import setup

    ids = await setup(world, acme, JSON_DESIGN, "JSON")
    criteria = trained_criteria(world.database)
    # the key item's category (tents): best value first, at most two
    same_category = await admin(
        world,
        acme,
        "/recs/promotions",
        {
            "name": "Same category",
            "type": "EXTERNAL",
            "rules": [
                {
                    "attribute": "category",
                    "operation": "dynamicallyMatches",
                    "source": {"type": "ENTITY", "name": "category"},
                }
            ],
        },
    )
    by_parameter = await admin(
        world,
        acme,
        "/recs/promotions",
        {
            "name": "Asked for",
            "type": "EXTERNAL",
            "rules": [
                {
                    "attribute": "id",
                    "operation": "equals",
                    "source": {"type": "MBOX", "name": "mbox.featured"},
                }
            ],
        },
    )
    expired = await admin(
        world,
        acme,
        "/recs/promotions",
        {
            "name": "Last year",
            "type": "EXTERNAL",
            "entityIds": ["s1"],
            "schedule": {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"},
        },
    )
    offer = await admin(
        world,
        acme,
        "/offers/recs",
        {
            "name": "Recs",
            "criteriaId": criteria,
            "designId": ids["design"],
            "promotions": {
                "front": [
                    {"id": expired["id"], "configuration": {"maxSlots": 1}},
                    {"id": by_parameter["id"], "configuration": {"maxSlots": 1}},
                    {"id": same_category["id"], "configuration": {"maxSlots": 2}},
                ]
            },
        },
    )
    await recs_activity(world, acme, offer["id"], "promo-recs")
    run_pending(world.database)
    served = await deliver(world, "promo-recs", {"entity.id": "k1", "featured": "s1"})
    # s1 asked for by parameter; then tents by value: c2 (900), p1 (60) -- k1 itself never;
    # then the criteria's first item not yet shown (c1)
    assert served["options"][0]["content"]["slots"] == ["s1", "c2", "p1", "c1"]

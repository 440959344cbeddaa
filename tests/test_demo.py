"""The demo data a newcomer gets from ``scripts/run``: live A/B and XT activities that decide."""

from __future__ import annotations

import pytest

from cible.demo import install_demo
from cible.store import Database
from tests.conftest import World

pytestmark = pytest.mark.anyio


def _request(url: str, tnt_id: str, **params: str) -> dict[str, object]:
    return {
        "context": {"channel": "web", "address": {"url": url}},
        "id": {"tntId": tnt_id},
        "execute": {
            "mboxes": [
                {"index": 0, "name": "hero"},
                {"index": 1, "name": "banner", "parameters": params},
            ]
        },
    }


async def test_demo_activities_decide_at_once(world: World, database: Database) -> None:
    result = install_demo(database)
    assert result.created and result.client_secret
    assert install_demo(database).created is False

    async def decide(url: str, tnt_id: str, **params: str) -> tuple[str, dict[str, str]]:
        response = await world.http.post(
            "/rest/v1/delivery?client=demo&sessionId=demo-session",
            json=_request(url, tnt_id, **params),
        )
        assert response.status_code == 200, response.text
        hero, banner = response.json()["execute"]["mboxes"]
        return hero["options"][0]["content"], banner["options"][0]["content"]

    heroes = {(await decide("https://shop.example/", f"v{i}.0"))[0] for i in range(40)}
    assert heroes == {"<h1>Welcome</h1>", "<h1>Spring sale: 20% off everything</h1>"}
    bold = {"color": "red", "cta": "Grab the deal"}
    default = {"color": "blue", "cta": "Shop now"}
    assert (await decide("https://shop.example/?campaign=spring", "a.0"))[1] == bold
    assert (await decide("https://shop.example/", "a.0", loyalty="GOLD"))[1] == bold
    assert (await decide("https://shop.example/", "a.0"))[1] == default

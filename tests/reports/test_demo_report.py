"""A newcomer's first report: the demo's live A/B test shows numbers after a few delivery calls."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cible.activities.abxt.tables import Activity
from cible.demo import install_demo
from cible.store import Database
from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio


async def test_demo_ab_report_is_not_empty(world: World, database: Database) -> None:
    demo = install_demo(database)
    assert demo.client_id and demo.client_secret
    cred = Credential(demo.client_id, demo.client_secret)
    cred.token = await world.token(cred.client_id, cred.secret)
    for i in range(12):
        response = await world.http.post(
            f"/rest/v1/delivery?client=demo&sessionId=s{i}",
            json={
                "context": {"channel": "web", "address": {"url": "https://shop.example/"}},
                "id": {"tntId": f"visitor{i}.0"},
                "execute": {"mboxes": [{"index": 0, "name": "hero"}]},
            },
        )
        assert response.status_code == 200, response.text
    with database.session() as s:
        ab = s.scalars(select(Activity).where(Activity.type == "ab")).one()
    report = await world.http.get(
        f"/demo/target/activities/ab/{ab.id}/report/performance", headers=cred.headers
    )
    assert report.status_code == 200, report.text
    totals = report.json()["report"]["statistics"]["totals"]
    assert totals["visitor"]["totals"]["entries"] == 12
    assert totals["impression"]["totals"]["entries"] == 12
    experiences = report.json()["report"]["statistics"]["experiences"]
    assert sum(e["totals"]["visitor"]["totals"]["entries"] for e in experiences) == 12

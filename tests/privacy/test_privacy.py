"""One visitor's data exported and deleted, by the Admin API and by ``cible privacy``.

The visitor (alice) has a profile under a tntId and a thirdPartyId, a sticky assignment and
delivery events; another visitor (bob) has the same kinds of rows and must keep every one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cible.cli import app as cli_app
from cible.config import get_settings
from cible.delivery.tables import Event
from cible.profiles import service as profiles
from cible.profiles.tables import Assignment, Profile, ProfileId
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import BACKENDS, World

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
URL = "/acme/target/privacy/visitor"


def _visitor(database: Database, tenant: str, tnt_id: str, third_party: str | None) -> None:
    with database.session() as s:
        tenant_id = tenants.get_tenant(s, tenant).id
        profile = profiles.new_profile(tenant_id, "tnt", tnt_id, NOW)
        profiles.apply_attributes(profile, {"tier": "gold"}, NOW)
        s.add(profile)
        s.flush()
        s.add_all(profiles.id_rows("tnt", tnt_id, profile))
        if third_party:
            s.add(
                ProfileId(tenant_id=tenant_id, kind="3p", value=third_party, profile_id=profile.id)
            )
        s.add(
            Assignment(profile_id=profile.id, activity_id=7, tenant_id=tenant_id, experience_id=1)
        )
        for kind in ("impression", "click"):
            s.add(
                Event(
                    tenant_id=tenant_id,
                    event_key=f"{kind}:{tnt_id}",
                    kind=kind,
                    activity_id=7,
                    experience_id=1,
                    mbox="hero",
                    visitor=profiles.tnt_key(tnt_id),
                    occurred_at=NOW,
                )
            )


def _counts(database: Database) -> dict[str, int]:
    with database.session() as s:
        return {
            name: int(s.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in (
                ("profiles", Profile),
                ("ids", ProfileId),
                ("assignments", Assignment),
                ("events", Event),
            )
        }


@pytest.fixture
def scene(world: World, database: Database) -> World:
    world.tenant("acme")
    _visitor(database, "acme", "alice0000.0", "crm-alice")
    _visitor(database, "acme", "bob000000.0", None)
    return world


@pytest.mark.anyio
async def test_export_then_delete_one_visitor(scene: World) -> None:
    http = scene.http
    acme = await scene.credential("acme", "approver")
    by_tnt = await http.get(URL, params={"id": "alice0000.0"}, headers=acme.headers)
    assert by_tnt.status_code == 200, by_tnt.text
    data = by_tnt.json()
    assert {"kind": "3p", "value": "crm-alice"} in data["ids"]
    assert data["profiles"][0]["attributes"]["tier"] and data["profiles"][0]["tntId"]
    assert [a["activityId"] for a in data["assignments"]] == [7]
    assert sorted(e["kind"] for e in data["events"]) == ["click", "impression"]
    by_3p = await http.get(
        URL, params={"id": "crm-alice", "kind": "thirdPartyId"}, headers=acme.headers
    )
    assert by_3p.json() == data
    assert by_tnt.headers["cache-control"] == "no-store"

    before = _counts(scene.database)
    deleted = await http.delete(
        URL, params={"id": "crm-alice", "kind": "thirdPartyId"}, headers=acme.headers
    )
    assert deleted.status_code == 200, deleted.text
    counts = deleted.json()["deleted"]
    # Other domains' handlers (recommendations, ...) had nothing of alice's to delete.
    built_in = {k: counts.pop(k) for k in ("profiles", "assignments", "events")}
    assert built_in == {"profiles": 1, "assignments": 1, "events": 2}
    assert counts and all(n == 0 for n in counts.values()), counts
    after = _counts(scene.database)
    assert after == {
        "profiles": before["profiles"] - 1,
        "ids": before["ids"] - 2,
        "assignments": before["assignments"] - 1,
        "events": before["events"] - 2,
    }
    gone = (await http.get(URL, params={"id": "alice0000.0"}, headers=acme.headers)).json()
    assert (gone["profiles"], gone["assignments"], gone["events"]) == ([], [], [])
    bob = (await http.get(URL, params={"id": "bob000000.0"}, headers=acme.headers)).json()
    assert len(bob["profiles"]) == 1 and len(bob["events"]) == 2


@pytest.mark.anyio
async def test_bad_requests_and_rights(scene: World) -> None:
    http = scene.http
    acme = await scene.credential("acme", "approver")
    before = _counts(scene.database)
    for params in ({"id": "x", "kind": "email"}, {}, {"id": "x" * 300}):
        response = await http.delete(URL, params=params, headers=acme.headers)
        assert response.status_code == 400, (params, response.text)
    observer = await scene.credential("acme", "observer")
    assert (
        await http.get(URL, params={"id": "alice0000.0"}, headers=observer.headers)
    ).status_code == 200
    refused = await http.delete(URL, params={"id": "alice0000.0"}, headers=observer.headers)
    assert refused.status_code == 403
    scene.tenant("beta")
    beta = await scene.credential("beta", "approver")
    assert (
        await http.get(URL, params={"id": "alice0000.0"}, headers=beta.headers)
    ).status_code == 403
    on_beta = await http.get(
        "/beta/target/privacy/visitor", params={"id": "alice0000.0"}, headers=beta.headers
    )
    assert on_beta.json()["profiles"] == []  # acme's visitor is not beta's
    assert _counts(scene.database) == before


def test_cli_export_and_delete(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with database.session() as s:
        tenants.create_tenant(s, "acme")
    _visitor(database, "acme", "alice0000.0", "crm-alice")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        exported = runner.invoke(
            cli_app, ["privacy", "export", "--tenant", "acme", "--id", "alice0000.0"]
        )
        assert exported.exit_code == 0, exported.stderr
        data: dict[str, Any] = json.loads(exported.stdout)
        assert len(data["profiles"]) == 1 and len(data["events"]) == 2
        deleted = runner.invoke(
            cli_app, ["privacy", "delete", "--tenant", "acme", "--id", "alice0000.0", "--json"]
        )
        assert deleted.exit_code == 0, deleted.stderr
        counts = json.loads(deleted.stdout)["deleted"]
        built_in = {k: counts.pop(k) for k in ("profiles", "assignments", "events")}
        assert built_in == {"profiles": 1, "assignments": 1, "events": 2}
        assert all(n == 0 for n in counts.values()), counts
        again = runner.invoke(
            cli_app, ["privacy", "export", "--tenant", "acme", "--id", "alice0000.0"]
        )
        assert json.loads(again.stdout)["profiles"] == []
        bad = runner.invoke(cli_app, ["privacy", "delete", "--tenant", "nope", "--id", "x"])
        assert bad.exit_code == 1 and bad.stderr.startswith("error:")
    finally:
        get_settings.cache_clear()

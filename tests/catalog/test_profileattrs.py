"""Profile attributes: the delivery API records names in bulk, the Admin API lists them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from cible.activities.profileattrs.service import record_profile_attributes
from cible.tenants import service as tenants
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


async def test_recorded_names_are_listed(world: World, acme: Credential) -> None:
    empty = await world.http.get("/acme/target/profileattributes/mbox", headers=acme.headers)
    assert empty.status_code == 200
    assert empty.json() == {"mboxProfileAttributes": []}
    with world.database.session() as s:
        tenant_id = tenants.get_tenant(s, "acme").id
        record_profile_attributes(s, tenant_id, {"memberLevel", "country", ""}, T0)
    with world.database.session() as s:
        record_profile_attributes(s, tenant_id, {"country", "age", "x" * 251}, T1)
    response = await world.http.get("/acme/target/profileattributes/mbox", headers=acme.headers)
    assert response.json() == {"mboxProfileAttributes": ["age", "country", "memberLevel"]}
    assert count_rows(world.database, "profile_attributes") == 3
    with world.database.session() as s:
        rows = {
            r[0]: r[1] for r in s.execute(text("SELECT name, last_seen_at FROM profile_attributes"))
        }
        firsts = {
            r[0]: r[1]
            for r in s.execute(text("SELECT name, first_seen_at FROM profile_attributes"))
        }
    assert str(rows["country"]).startswith("2026-01-02")
    assert str(firsts["country"]).startswith("2026-01-01")
    assert str(rows["memberLevel"]).startswith("2026-01-01")


async def test_names_are_per_tenant(world: World, acme: Credential) -> None:
    world.tenant("beta")
    beta = await world.credential("beta", "observer")
    with world.database.session() as s:
        record_profile_attributes(s, tenants.get_tenant(s, "acme").id, {"secret"}, T0)
        record_profile_attributes(s, tenants.get_tenant(s, "beta").id, {"shared"}, T0)
    response = await world.http.get("/beta/target/profileattributes/mbox", headers=beta.headers)
    assert response.json() == {"mboxProfileAttributes": ["shared"]}


async def test_nothing_to_record(world: World, acme: Credential) -> None:
    with world.database.session() as s:
        record_profile_attributes(s, tenants.get_tenant(s, "acme").id, set(), T0)
    assert count_rows(world.database, "profile_attributes") == 0

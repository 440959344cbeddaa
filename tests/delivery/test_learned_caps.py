"""Names learned from unauthenticated traffic are capped per tenant: served, not recorded, counted.

Service-level caps run on both backends; the HTTP case drives made-up mbox and attribute names
through ``POST /rest/v1/delivery`` and reads the Admin API and ``/metrics`` afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.mboxes import service as mboxes
from cible.activities.mboxes.tables import Mbox
from cible.activities.profileattrs import service as attributes
from cible.config import Settings
from cible.delivery.seen import SeenNames
from cible.store import Database
from cible.tenants import service as tenants
from cible.tenants.tables import Tenant
from cible.web.app import create_app
from tests.conftest import BACKENDS

from . import _scenario as sc

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _tenant(database: Database) -> int:
    with database.session() as s:
        return tenants.create_tenant(s, "acme").id


def test_mbox_names_and_parameters_are_capped(database: Database) -> None:
    tenant_id = _tenant(database)
    with database.session() as s:
        mboxes.declare(s, tenant_id, ["declared-one"])  # declared names do not count
        assert mboxes.record_seen(
            s, tenant_id, {"a": {"p1"}, "b": set()}, NOW, max_learned=3, max_parameters=2
        ) == (0, 0)
        dropped = mboxes.record_seen(
            s,
            tenant_id,
            {"a": {"p2", "p3", "p4"}, "c": set(), "d": set(), "e": set(), "declared-one": set()},
            NOW,
            max_learned=3,
            max_parameters=2,
        )
        assert dropped == (2, 2)  # d and e; p3 and p4 (a keeps p1, p2)
        names = {m.name: m for m in s.scalars(select(Mbox).where(Mbox.tenant_id == tenant_id))}
    assert set(names) == {"a", "b", "c", "declared-one"}
    assert names["declared-one"].last_requested_at is not None  # known names still update
    assert names["a"].parameters == '["p1","p2"]'


def test_profile_attribute_names_are_capped(database: Database) -> None:
    tenant_id = _tenant(database)
    with database.session() as s:
        assert attributes.record_profile_attributes(s, tenant_id, ["x", "y"], NOW, max_names=3) == 0
        later = datetime(2026, 3, 2, tzinfo=UTC)
        dropped = attributes.record_profile_attributes(
            s, tenant_id, ["x", "z1", "z2", "z3"], later, max_names=3
        )
        assert dropped == 2
        assert attributes.profile_attribute_names(s, tenant_id) == ["x", "y", "z1"]


def test_seen_names_takes_its_writers_by_injection(database: Database) -> None:
    calls: list[tuple[str, int, Any, dict[str, Any]]] = []

    def mbox_writer(
        session: Session,
        tenant_id: int,
        seen: Mapping[str, set[str]],
        now: datetime,
        **caps: Any,
    ) -> tuple[int, int]:
        calls.append(("mboxes", tenant_id, dict(seen), caps))
        return 4, 1

    def attribute_writer(
        session: Session, tenant_id: int, names: Iterable[str], now: datetime, **caps: Any
    ) -> int:
        calls.append(("attributes", tenant_id, sorted(names), caps))
        return 2

    buffer = SeenNames(
        database,
        max_mboxes=7,
        max_attributes=8,
        max_parameters=9,
        record_mboxes=mbox_writer,
        record_attributes=attribute_writer,
    )
    buffer.add(5, {"hero": ["color"]}, ["tier"])
    buffer.flush()
    assert calls == [
        ("mboxes", 5, {"hero": {"color"}}, {"max_learned": 7, "max_parameters": 9}),
        ("attributes", 5, ["tier"], {"max_names": 8}),
    ]
    assert buffer.dropped == {"mbox": 4, "mbox_parameter": 1, "profile_attribute": 2}


@pytest.mark.anyio
async def test_made_up_names_over_the_cap_are_served_not_recorded(
    acme: Any, app: Any, http: Any, database: Any, settings: Settings
) -> None:
    sc.install(app, sc.artifact())
    url = "/rest/v1/delivery?client=acme&sessionId=s1"
    assert (await http.post(url, json=sc.request(execute=sc.mboxes("hero")))).status_code == 200
    # Whichever buffer the runtime uses has the default caps; lowered here for the test.
    seen = app.state.delivery.seen
    assert (seen.max_mboxes, seen.max_attributes) == (10_000, 1_000)
    seen.max_mboxes, seen.max_attributes = 5, 3
    for i in range(4):
        names = [f"made-up-{i}-{j}" for j in range(5)]
        body = sc.request(
            execute=sc.mboxes(*names, profileParameters={f"attr{i}{j}": "v" for j in range(2)})
        )
        response = await http.post(url, json=body)
        assert response.status_code == 200
        assert {m["name"] for m in response.json()["execute"]["mboxes"]} == set(names)
    seen.flush()
    listed = await http.get("/acme/target/mboxes?limit=100", headers=acme.headers)
    assert listed.json()["total"] == 5
    attrs = await http.get("/acme/target/profileattributes/mbox", headers=acme.headers)
    assert len(attrs.json()["mboxProfileAttributes"]) == 3
    metrics = (await http.get("/metrics")).text
    dropped = dict(re.findall(r'cible_learned_names_dropped_total\{kind="(\w+)"\} (\S+)', metrics))
    assert float(dropped["mbox"]) == 21 - 5
    assert float(dropped["profile_attribute"]) == 8 - 3


def test_create_app_builds_the_buffer_from_settings(database: Database) -> None:
    settings = Settings(
        database_url="sqlite://",
        max_learned_mboxes=12,
        max_learned_profile_attributes=34,
        max_learned_mbox_parameters=56,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings, database=database)
    seen = app.state.seen_names
    assert (seen.max_mboxes, seen.max_attributes, seen.max_parameters) == (12, 34, 56)
    with database.session() as s:
        assert s.scalars(select(Tenant)).all() == []

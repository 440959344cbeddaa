"""The default artifact source (served artifacts, per property token, reloaded on a new ETag) and
the buffered recording of mbox and profile-attribute names for the Admin API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from cible.artifacts import dump_artifact
from cible.artifacts.store import replace
from cible.delivery.source import StoreArtifactSource
from cible.tenants.tables import Tenant
from tests.conftest import BACKENDS

from . import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

URL = "/rest/v1/delivery?client=acme&sessionId=s1"


def acme_id(database: Any) -> int:
    with database.session() as s:
        return int(s.scalar(select(Tenant.id).where(Tenant.client_code == "acme")))


def publish(database: Any, split: tuple[int, int], token: str = "") -> None:
    tenant_id = acme_id(database)
    with database.session() as s:
        body = dump_artifact(sc.artifact_json(split))
        replace(s, tenant_id, "production", body, datetime.now(UTC), token)


async def hero(http: Any, token: str | None = None) -> Any:
    body = sc.request(execute=sc.mboxes("hero"))
    if token is not None:
        body["property"] = {"token": token}
    response = await http.post(URL, json=body)
    assert response.status_code == 200, response.text
    return sc.content(response.json())["hero"]


async def test_served_artifacts_by_property_token_and_etag(
    world: Any, app: Any, http: Any, database: Any
) -> None:
    world.tenant("acme")
    source = StoreArtifactSource(database, refresh_seconds=0)
    app.state.artifact_source = source
    assert await hero(http) is None  # nothing published: the mbox comes back without options
    publish(database, (100, 0))
    publish(database, (0, 100), token="prop-a")
    assert await hero(http) == {"offer": 0}
    assert await hero(http, "prop-a") == {"offer": 1}
    assert await hero(http, "unknown-property") == {"offer": 0}  # the tokenless artifact
    tenant_id = acme_id(database)
    first = source.get(tenant_id, "acme", "production")
    assert source.get(tenant_id, "acme", "production") is first  # same ETag: loaded once
    publish(database, (0, 100))
    assert source.get(tenant_id, "acme", "production") is not first
    assert await hero(http) == {"offer": 1}


async def test_names_are_buffered_then_recorded_for_the_admin_api(
    acme: Any, app: Any, http: Any, database: Any
) -> None:
    sc.install(app, sc.artifact())
    body = sc.request(
        execute=sc.mboxes("hero", parameters={"color": "red"}, profileParameters={"tier": "gold"})
    )
    assert (await http.post(URL, json=body)).status_code == 200
    listed = await http.get("/acme/target/mboxes", headers=acme.headers)
    assert "hero" not in listed.text  # buffered: no write on the delivery call
    seen = app.state.delivery.seen
    assert seen.pending() == {acme_id(database): {"hero": {"color"}}}
    seen.flush()
    mbox = await http.get("/acme/target/mbox/hero", headers=acme.headers)
    assert mbox.status_code == 200
    assert mbox.json()["mboxParameters"] == [{"name": "color", "parameterType": "MBOX"}]
    attributes = await http.get("/acme/target/profileattributes/mbox", headers=acme.headers)
    assert "tier" in attributes.text

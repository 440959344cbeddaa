"""Adobe's Profile APIs: fetch, single update, bulk update v2 with its job and status."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cible.jobs import run_pending
from tests.conftest import BACKENDS, count_rows
from tests.delivery import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

DELIVERY = "/rest/v1/delivery?client=acme&sessionId=s1"


@pytest.fixture
async def acme_app(world: Any, app: Any) -> Any:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    return app


async def visitor(http: Any, **ids: Any) -> str:
    body = {"context": {"channel": "web"}, "id": ids, "execute": sc.mboxes("vip")}
    response = await http.post(DELIVERY, json=body)
    assert response.status_code == 200
    return str(response.json()["id"]["tntId"])


async def test_fetch_unknown_profiles_gives_adobes_404(acme_app: Any, http: Any) -> None:
    response = await http.get("/rest/v1/profiles/abc.0?client=acme")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "message": "No profile found for client acme with mboxPC=abc.0",
    }
    response = await http.get("/rest/v1/profiles/thirdPartyId/crm-9?client=acme")
    assert response.json()["message"] == (
        "No profile found for client acme with third party id=crm-9"
    )


async def test_single_update_then_fetch_and_target(acme_app: Any, http: Any) -> None:
    tnt_id = await visitor(http)
    response = await http.get(f"/m2/acme/profile/update?mboxPC={tnt_id}&profile.vip=true")
    assert response.status_code == 200
    assert "<success>true</success>" in response.text
    fetched = (await http.get(f"/rest/v1/profiles/{tnt_id}?client=acme")).json()
    assert fetched["client"] == "acme" and fetched["visitorId"] == tnt_id
    assert fetched["profileAttributes"]["vip"]["value"] == "true"
    assert "firstSessionStart" in fetched["profileAttributes"]
    body = {"context": {"channel": "web"}, "id": {"tntId": tnt_id}, "execute": sc.mboxes("vip")}
    decided = (await http.post(DELIVERY, json=body)).json()
    assert sc.content(decided) == {"vip": {"offer": 0}}


async def test_update_of_an_unknown_profile_creates_nothing(
    acme_app: Any, http: Any, database: Any
) -> None:
    response = await http.post(
        "/m2/acme/profile/update", content=b"mbox3rdPartyId=nobody&profile.a=1"
    )
    assert response.status_code == 404 and "<success>false</success>" in response.text
    assert count_rows(database, "profiles") == 0


async def test_third_party_id_merges_profiles(acme_app: Any, http: Any) -> None:
    anonymous = await visitor(http)
    await http.get(f"/m2/acme/profile/update?mboxPC={anonymous}&profile.color=red")
    logged_in = await visitor(http, tntId=anonymous, thirdPartyId="crm-1")
    assert logged_in == anonymous
    other_device = await visitor(http, thirdPartyId="crm-1")
    assert other_device == anonymous  # the profile's tntId comes back on a new device
    fetched = (await http.get("/rest/v1/profiles/thirdPartyId/crm-1?client=acme")).json()
    assert fetched["profileAttributes"]["color"]["value"] == "red"


async def test_bulk_update_of_10000_rows_completes_with_an_exact_status(
    acme_app: Any, http: Any, database: Any
) -> None:
    known = await visitor(http, thirdPartyId="row-17")
    lines = ["batch=thirdPartyId,vip,tier"]
    for n in range(10_000):
        lines.append(f"row-{n},true,gold" if n % 1000 else f"row-{n},a,b,extra-cell")
    response = await http.post(
        "/m2/acme/v2/profile/batchUpdate",
        content="\n".join(lines).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert "<success>true</success>" in response.text
    status_url = re.search(r"<batchStatus>(.*)</batchStatus>", response.text)
    assert status_url is not None
    url = status_url.group(1).replace("&amp;", "&")
    pending = await http.get(url)
    assert "<status>incomplete</status>" in pending.text
    while run_pending(database):
        pass
    done = await http.get(url + "&showDetails=true")
    text = done.text
    assert "<status>complete</status>" in text and "<batchSize>10000</batchSize>" in text
    assert "<consumedCount>10000</consumedCount>" in text
    assert "<successfulUpdates>9990</successfulUpdates>" in text
    assert "<failedUpdates>10</failedUpdates>" in text
    assert text.count("<row>") == 10_000
    assert "<line>2</line><id>row-0</id><status>failed</status>" in text
    fetched = (await http.get("/rest/v1/profiles/thirdPartyId/row-17?client=acme")).json()
    assert fetched["profileAttributes"]["tier"]["value"] == "gold"
    assert (await visitor(http, thirdPartyId="row-17")) == known
    assert count_rows(database, "profiles") == 9_990  # row-17 existed; 10 rows failed


async def test_bad_batches_are_refused_whole(acme_app: Any, http: Any, database: Any) -> None:
    for body in (b"pcId,a\n1,2", b"batch=email,a\nx,1", b"batch=pcId\n1", b"batch=pcId,a"):
        response = await http.post("/m2/acme/v2/profile/batchUpdate", content=body)
        assert response.status_code == 400
        assert "<success>false</success>" in response.text
    assert count_rows(database, "profile_batches") == 0
    assert count_rows(database, "jobs") == 0


async def test_tenants_never_see_each_others_profiles(acme_app: Any, http: Any, world: Any) -> None:
    world.tenant("beta")
    tnt_id = await visitor(http, thirdPartyId="shared-id")
    await http.get(f"/m2/acme/profile/update?mboxPC={tnt_id}&profile.secret=acme-only")
    assert (await http.get(f"/rest/v1/profiles/{tnt_id}?client=beta")).status_code == 404
    by_third_party = await http.get("/rest/v1/profiles/thirdPartyId/shared-id?client=beta")
    assert by_third_party.status_code == 404
    update = await http.get(f"/m2/beta/profile/update?mboxPC={tnt_id}&profile.secret=beta")
    assert update.status_code == 404
    body = {"context": {"channel": "web"}, "id": {"tntId": tnt_id}, "execute": sc.mboxes("vip")}
    beta_call = await http.post("/rest/v1/delivery?client=beta&sessionId=b", json=body)
    assert beta_call.status_code == 200
    fetched = (await http.get(f"/rest/v1/profiles/{tnt_id}?client=acme")).json()
    assert fetched["profileAttributes"]["secret"]["value"] == "acme-only"
    beta_profile = (await http.get(f"/rest/v1/profiles/{tnt_id}?client=beta")).json()
    assert "secret" not in beta_profile["profileAttributes"]


async def test_a_wholly_url_encoded_batch_is_read_too(
    acme_app: Any, http: Any, database: Any
) -> None:
    from urllib.parse import quote_plus

    body = "batch=" + quote_plus("thirdPartyId,color\ncrm-7,blue green\n")
    response = await http.post("/m2/acme/v2/profile/batchUpdate", content=body)
    assert response.status_code == 200, response.text
    while run_pending(database):
        pass
    fetched = (await http.get("/rest/v1/profiles/thirdPartyId/crm-7?client=acme")).json()
    assert fetched["profileAttributes"]["color"]["value"] == "blue green"

"""Catalog feeds: CSV and Google product feeds, uploaded or from a URL, with a per-row report."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cible.jobs import run_pending
from cible.jobs.tables import JobSchedule
from cible.recs import feeds
from cible.store import Database
from tests.conftest import Credential

pytestmark = pytest.mark.anyio
V1 = "application/vnd.adobe.target.v1+json"
BASE = "/acme/target/recs/feeds"

COLUMNS = (
    "entity.id,entity.name,entity.categoryId,entity.message,entity.thumbnailUrl,entity.value,"
    "entity.pageUrl,entity.inventory,entity.margin,entity.brand,entity.tags"
)
ADOBE_CSV = "\n".join(
    [
        "## RECSRecommendations Upload File",
        "## RECS''## RECS'' indicates a Recommendations pre-process header.",
        "## RECS",
        "## RECSUse this file to upload product display information to Recommendations.",
        "## RECSThe last 100 columns (entity.custom1 - entity.custom100) are custom.",
        "## RECS" + COLUMNS,
        'kit2001,Toaster Oven,"housewares, housewares:appliances",hot,/t.png,19.2,/toaster,77,23,'
        'Acme,"[""New"",""Web""]"',
        "kit2002,Kettle,housewares,,,not-a-price,,5,,Acme,",
        "bad id,Broken,housewares,,,1,,1,,,",
        "kit2003,Mug,kitchen,,,4.5,,,,Zed,",
        "",
    ]
)

GOOGLE_XML = """<?xml version="1.0"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
<channel>
<item>
  <g:id>sku-1</g:id>
  <title>Trail shoe</title>
  <link>https://shop.example/sku-1</link>
  <g:image_link>https://shop.example/sku-1.png</g:image_link>
  <g:price>119.99 USD</g:price>
  <g:product_type>Shoes &gt; Trail</g:product_type>
  <g:brand>Acme</g:brand>
  <g:availability>in stock</g:availability>
</item>
<item><g:id>sku 2</g:id><title>Bad id</title></item>
</channel>
</rss>"""


def _h(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V1, "Accept": V1}


async def entity(http: httpx.AsyncClient, cred: Credential, entity_id: str) -> Any:
    return await http.get(f"/acme/target/recs/entities/{entity_id}", headers=_h(cred))


async def create(http: httpx.AsyncClient, cred: Credential, body: Any) -> Any:
    response = await http.post(BASE, json=body, headers=_h(cred))
    assert response.status_code == 201, response.text
    return response.json()


async def test_uploaded_adobe_csv_imports_rows_and_reports_bad_ones(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    feed = await create(
        http, acme, {"name": "Catalog", "format": "csv", "connection": {"type": "upload"}}
    )
    assert feed["status"] == "NO_FEED_RUN"
    uploaded = await http.put(
        f"{BASE}/{feed['id']}/file", json={"content": ADOBE_CSV}, headers=_h(acme)
    )
    assert uploaded.status_code == 202 and uploaded.json()["status"] == "SCHEDULED"
    assert run_pending(database) == 1
    done = (await http.get(f"{BASE}/{feed['id']}", headers=_h(acme))).json()
    assert done["status"] == "PARTIAL_IMPORT_FAILED"
    assert done["progress"] == {"rowsDone": 4, "rowsTotal": 4}
    assert done["report"]["imported"] == 3 and done["report"]["rejected"] == 1
    assert done["report"]["errors"] == [
        {
            "row": 9,
            "key": "error.entity.id.invalid",
            "message": "id may not contain spaces, '/', '&', '?', '%' or ','",
        }
    ]
    assert done["lastRun"]
    toaster = (await entity(http, acme, "kit2001")).json()
    assert toaster["categories"] == ["housewares", "housewares:appliances"]
    assert toaster["attributes"]["value"] == 19.2 and toaster["attributes"]["inventory"] == 77
    assert toaster["attributes"]["tags"] == ["New", "Web"]
    kettle = (await entity(http, acme, "kit2002")).json()
    # A bad number is left out alone; the row is still imported.
    assert "value" not in kettle["attributes"] and kettle["attributes"]["inventory"] == 5
    # Feeds write every environment when they name none.
    envs = (await http.get("/acme/target/environments", headers=acme.headers)).json()
    staging = next(e["id"] for e in envs["environments"] if e["name"] == "Staging")
    in_staging = await http.get(
        "/acme/target/recs/entities/kit2003",
        params={"environmentId": staging},
        headers=_h(acme),
    )
    assert in_staging.status_code == 200


async def test_a_second_import_merges_categories_and_keeps_values_blank_cells_omit(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    feed = await create(
        http, acme, {"name": "Catalog", "format": "csv", "connection": {"type": "upload"}}
    )
    first = "entity.id,entity.name,entity.categoryId,entity.value\na1,Lamp,home,10\n"
    second = "entity.id,entity.name,entity.categoryId,entity.value\na1,,sale,\n"
    for content in (first, second):
        await http.put(f"{BASE}/{feed['id']}/file", json={"content": content}, headers=_h(acme))
        run_pending(database)
    lamp = (await entity(http, acme, "a1")).json()
    assert lamp["name"] == "Lamp" and lamp["categories"] == ["home", "sale"]
    assert lamp["attributes"]["value"] == 10.0


async def test_google_feed_from_a_url_with_a_mapping(
    http: httpx.AsyncClient,
    acme: Credential,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requested: list[str] = []

    def served(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, text=GOOGLE_XML)

    # The outbound client's transport replaced by one that answers in process (no socket).
    monkeypatch.setattr(
        feeds, "client", lambda *a, **k: httpx.Client(transport=httpx.MockTransport(served))
    )
    feed = await create(
        http,
        acme,
        {
            "name": "Google",
            "format": "google",
            "connection": {"type": "url", "url": "https://shop.example/feed.xml"},
            "mapping": {"availability": "stock", "image_link": "thumbnailUrl"},
        },
    )
    assert feed["status"] == "SCHEDULED"  # a URL feed runs when saved
    run_pending(database)
    assert requested == ["https://shop.example/feed.xml"]
    done = (await http.get(f"{BASE}/{feed['id']}", headers=_h(acme))).json()
    assert done["status"] == "PARTIAL_IMPORT_FAILED", done
    assert done["report"]["imported"] == 1 and done["report"]["errors"][0]["row"] == 2
    shoe = (await entity(http, acme, "sku-1")).json()
    assert shoe["name"] == "Trail shoe" and shoe["categories"] == ["Shoes:Trail"]
    assert shoe["attributes"]["value"] == 119.99
    assert shoe["attributes"]["pageUrl"] == "https://shop.example/sku-1"
    assert shoe["attributes"]["stock"] == "in stock" and shoe["attributes"]["brand"] == "Acme"


async def test_tab_separated_google_feed(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    feed = await create(
        http, acme, {"name": "TSV", "format": "google", "connection": {"type": "upload"}}
    )
    tsv = "id\ttitle\tprice\tproduct_type\nsku-9\tHat\t12 EUR\tHats\n"
    await http.put(f"{BASE}/{feed['id']}/file", json={"content": tsv}, headers=_h(acme))
    run_pending(database)
    done = (await http.get(f"{BASE}/{feed['id']}", headers=_h(acme))).json()
    assert done["status"] == "SUCCESS" and done["report"]["imported"] == 1
    hat = (await entity(http, acme, "sku-9")).json()
    assert hat["name"] == "Hat" and hat["attributes"]["value"] == 12.0


async def test_feed_urls_to_private_addresses_are_refused_when_run(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    feed = await create(
        http,
        acme,
        {
            "name": "Local",
            "format": "csv",
            "connection": {"type": "url", "url": "http://127.0.0.1:9/x"},
        },
    )
    run_pending(database)
    done = (await http.get(f"{BASE}/{feed['id']}", headers=_h(acme))).json()
    assert done["status"] == "SERVER_NOT_FOUND"
    assert "loopback" in done["report"]["message"]


async def test_unparsable_files_fail_as_a_whole(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    for name, fmt, content in [
        ("no id column", "csv", "entity.name\nx\n"),
        ("doctype", "google", '<!DOCTYPE x [<!ENTITY a "b">]><rss/>'),
        ("broken xml", "google", "<rss><channel>"),
    ]:
        feed = await create(
            http, acme, {"name": name, "format": fmt, "connection": {"type": "upload"}}
        )
        await http.put(f"{BASE}/{feed['id']}/file", json={"content": content}, headers=_h(acme))
        run_pending(database)
        done = (await http.get(f"{BASE}/{feed['id']}", headers=_h(acme))).json()
        assert done["status"] == "PARSING_ERROR", (name, done)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"name": "x", "format": "csv", "connection": {"type": "url", "url": "ftp://h/x"}},
            "connection.url",
        ),
        ({"name": "x", "format": "csv", "connection": {"type": "url"}}, "connection.url"),
        ({"name": "x", "format": "xls", "connection": {"type": "upload"}}, "format"),
        (
            {"name": "x", "format": "csv", "connection": {"type": "upload"}, "mapping": {"a": "b"}},
            "mapping",
        ),
        (
            {
                "name": "x",
                "format": "csv",
                "connection": {"type": "upload"},
                "environmentId": 999999,
            },
            "environmentId",
        ),
        (
            {
                "name": "x",
                "format": "csv",
                "connection": {"type": "upload"},
                "scheduleTime": "25:00",
            },
            "scheduleTime",
        ),
    ],
)
async def test_bad_feeds_are_400(
    http: httpx.AsyncClient, acme: Credential, body: Any, field: str
) -> None:
    response = await http.post(BASE, json=body, headers=_h(acme))
    assert response.status_code == 400, response.text
    assert field in response.text
    assert (await http.get(BASE, headers=_h(acme))).json()["total"] == 0


async def test_schedules_follow_the_feed(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    body = {
        "name": "Nightly",
        "format": "csv",
        "connection": {"type": "upload"},
        "scheduleType": "daily",
        "scheduleTime": "03:30",
    }
    feed = await create(http, acme, body)
    name = f"recs.feed.{feed['id']}"
    with database.session() as s:
        schedule = s.scalars(select(JobSchedule).where(JobSchedule.name == name)).one()
        assert schedule.cron == "30 3 * * *" and schedule.kind == "recs.feed"
    never = {**body, "scheduleType": "never"}
    put = await http.put(f"{BASE}/{feed['id']}", json=never, headers=_h(acme))
    assert put.status_code == 200, put.text
    with database.session() as s:
        assert s.scalars(select(JobSchedule).where(JobSchedule.name == name)).all() == []
    await http.put(f"{BASE}/{feed['id']}", json=body, headers=_h(acme))
    deleted = await http.delete(f"{BASE}/{feed['id']}", headers=_h(acme))
    assert deleted.status_code == 200
    with database.session() as s:
        assert s.scalars(select(JobSchedule).where(JobSchedule.name == name)).all() == []
    assert (await http.get(f"{BASE}/{feed['id']}", headers=_h(acme))).status_code == 404


async def test_upload_and_run_rules(http: httpx.AsyncClient, acme: Credential) -> None:
    upload = await create(
        http, acme, {"name": "Up", "format": "csv", "connection": {"type": "upload"}}
    )
    early = await http.post(f"{BASE}/{upload['id']}/run", headers=_h(acme))
    assert early.status_code == 400
    url = await create(
        http,
        acme,
        {
            "name": "Url",
            "format": "csv",
            "connection": {"type": "url", "url": "https://h.example/f"},
        },
    )
    refused = await http.put(
        f"{BASE}/{url['id']}/file", json={"content": "entity.id\nx\n"}, headers=_h(acme)
    )
    assert refused.status_code == 400
    listed = (await http.get(BASE, headers=_h(acme))).json()
    assert [f["name"] for f in listed["list"]] == ["Up", "Url"]

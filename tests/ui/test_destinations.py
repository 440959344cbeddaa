"""The destination pages in-process: list, create and edit through the /v1 service's checks,
masked secrets kept, segment mappings, dead letters retried, and an observer refused."""

from __future__ import annotations

import re

import httpx
import orjson
import pytest
from sqlalchemy import select

from cible.dmp import service as dmp
from cible.dmp.schemas import FolderIn, SegmentIn, TraitIn
from cible.dmp.tables import DataSource
from cible.dmp.transfers.tables import DEAD, PENDING, Destination, S2SMessage
from cible.jobs.tables import Job
from cible.store import Database
from cible.store.base import utcnow
from cible.ui import users
from tests.ui.test_audience_manager import _sign_in, people  # noqa: F401 - people: a fixture

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("people")]

S2S_SETTINGS = {
    "url": "https://partner.example/aam",
    "timeoutMs": 3000,
    "maxAttempts": 4,
    "signature": {"algorithm": "HmacSHA256", "header": "X-Signature", "key": "k1"},
}


def _segment(database: Database, name: str) -> int:
    with database.session() as s:
        principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
        site = s.scalar(select(DataSource.id).where(DataSource.name == "Site"))
        assert site is not None
        folders = {
            kind: dmp.create_folder(
                s, principal, kind, FolderIn.model_validate({"name": name}), utcnow()
            ).id
            for kind in ("traits", "segments")
        }
        trait = TraitIn.model_validate(
            {"name": name, "traitType": "RULE_BASED_TRAIT", "traitRule": 'c_page == "x"',
             "dataSourceId": site, "folderId": folders["traits"]}
        )  # fmt: skip
        sid = dmp.create_trait(s, principal, trait, utcnow()).id
        body = SegmentIn.model_validate(
            {"name": name, "segmentRule": f"{sid}T", "dataSourceId": site,
             "folderId": folders["segments"]}
        )  # fmt: skip
        return dmp.create_segment(s, principal, body, utcnow()).id


def _form(csrf: str, name: str, settings: object, **extra: str) -> dict[str, str]:
    settings_text = settings if isinstance(settings, str) else orjson.dumps(settings).decode()
    return {
        "csrf_token": csrf,
        "name": name,
        "destinationType": "S2S",
        "status": "ACTIVE",
        "dataExportLabels": "ONSITE_ADVERTISING",
        "settings": settings_text,
        **extra,
    }


async def test_create_edit_map_and_retry(http: httpx.AsyncClient, database: Database) -> None:
    csrf = await _sign_in(http, "ana")
    listed = await http.get("/ui/acme/destinations")
    assert listed.status_code == 200 and "No destinations yet." in listed.text
    new = await http.get("/ui/acme/destinations/new?type=S2S")
    assert new.status_code == 200 and "X-Signature" in new.text
    assert (await http.get("/ui/acme/destinations/new?type=NOPE")).status_code == 404

    bad = await http.post("/ui/acme/destinations", data=_form(csrf, "Partner", "{not json"))
    assert bad.status_code == 400 and "JSON is malformed" in bad.text
    refused = await http.post(
        "/ui/acme/destinations", data=_form(csrf, "Partner", {"url": "ftp://x"})
    )
    assert refused.status_code == 400 and "http or https" in refused.text
    with database.session() as s:
        assert s.scalar(select(Destination.id)) is None  # nothing saved

    made = await http.post("/ui/acme/destinations", data=_form(csrf, "Partner", S2S_SETTINGS))
    assert made.status_code == 303, made.text
    found = re.search(r"/destinations/(\d+)$", made.headers["location"])
    assert found
    dest = int(found.group(1))
    page = await http.get(f"/ui/acme/destinations/{dest}")
    assert "********" in page.text and "k1" not in page.text
    # The masked settings sent back keep the stored key; the name changes.
    shown = page.text.split('name="settings"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    settings_back = orjson.loads(shown.replace("&#34;", '"').replace("&quot;", '"'))
    saved = await http.post(
        f"/ui/acme/destinations/{dest}", data=_form(csrf, "Partner 2", settings_back)
    )
    assert saved.status_code == 303, saved.text
    with database.session() as s:
        row = s.get(Destination, dest)
        assert row is not None and row.name == "Partner 2"
        assert orjson.loads(row.config)["signature"]["key"] == "k1"

    # Mappings: an unknown segment is refused on the page; a real one is listed, then removed.
    sid = _segment(database, "Buyers")
    unknown = await http.post(
        f"/ui/acme/destinations/{dest}/mappings", data={"csrf_token": csrf, "sid": "999999"}
    )
    assert unknown.status_code == 400 and "segment 999999 does not exist" in unknown.text
    mapped = await http.post(
        f"/ui/acme/destinations/{dest}/mappings", data={"csrf_token": csrf, "sid": str(sid)}
    )
    assert mapped.status_code == 303, mapped.text
    page = await http.get(f"/ui/acme/destinations/{dest}")
    assert f"{sid} Buyers" in page.text
    mapping = re.search(rf"/destinations/{dest}/mappings/(\d+)/delete", page.text)
    assert mapping
    listed = await http.get("/ui/acme/destinations")
    assert "Partner 2" in listed.text and "Real-time HTTP" in listed.text

    # A dead letter is shown and put back in the outbox.
    with database.session() as s:
        tenant = s.get(Destination, dest).tenant_id  # type: ignore[union-attr]
        message = S2SMessage(
            tenant_id=tenant,
            destination_id=dest,
            idempotency_key="k-dead-1",
            body="{}",
            users=3,
            state=DEAD,
            attempts=4,
            last_error="HTTP 500 from partner",
            created_ms=1_700_000_000_000,
        )
        s.add(message)
        s.flush()
        message_id = message.id
    page = await http.get(f"/ui/acme/destinations/{dest}")
    assert "HTTP 500 from partner" in page.text and "2023-11-14 22:13:20 UTC" in page.text
    listed = await http.get("/ui/acme/destinations")
    assert 'class="state state-dead">1<' in listed.text
    retried = await http.post(
        f"/ui/acme/destinations/{dest}/dead-letters/{message_id}/retry", data={"csrf_token": csrf}
    )
    assert retried.status_code == 303
    with database.session() as s:
        again = s.get(S2SMessage, message_id)
        assert again is not None and (again.state, again.attempts) == (PENDING, 0)
        assert s.scalar(select(Job.id).where(Job.kind == "dmp.s2s.send")) is not None
    twice = await http.post(
        f"/ui/acme/destinations/{dest}/dead-letters/{message_id}/retry", data={"csrf_token": csrf}
    )
    assert twice.status_code == 409 and "not a dead letter" in twice.text

    removed = await http.post(
        f"/ui/acme/destinations/{dest}/mappings/{mapping.group(1)}/delete",
        data={"csrf_token": csrf},
    )
    assert removed.status_code == 303
    assert "No segment is mapped yet." in (await http.get(f"/ui/acme/destinations/{dest}")).text
    gone = await http.post(f"/ui/acme/destinations/{dest}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert (await http.get(f"/ui/acme/destinations/{dest}")).status_code == 404


async def test_an_observer_reads_but_cannot_write(
    http: httpx.AsyncClient, database: Database
) -> None:
    csrf = await _sign_in(http, "ana")
    made = await http.post("/ui/acme/destinations", data=_form(csrf, "Partner", S2S_SETTINGS))
    assert made.status_code == 303
    dest = made.headers["location"].rsplit("/", 1)[1]
    await http.post("/ui/signout", data={"csrf_token": csrf})
    http.cookies.clear()
    csrf = await _sign_in(http, "olga")
    page = await http.get(f"/ui/acme/destinations/{dest}")
    assert page.status_code == 200 and "disabled" in page.text
    denied = await http.post(
        f"/ui/acme/destinations/{dest}", data=_form(csrf, "Renamed", S2S_SETTINGS)
    )
    assert denied.status_code == 403
    with database.session() as s:
        assert s.scalar(select(Destination.name)) == "Partner"
    forged = await http.post(
        "/ui/acme/destinations", data=_form("wrong-token", "Other", S2S_SETTINGS)
    )
    assert forged.status_code == 403

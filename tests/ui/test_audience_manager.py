"""The audience manager pages in-process: trait and segment folders, editors whose rule check
points at the error's line and column, populations, and that writes go through cible.dmp."""

from __future__ import annotations

import functools
import re

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from cible.dmp import service
from cible.dmp.schemas import DataSourceIn
from cible.dmp.tables import Segment, Trait
from cible.store import Database
from cible.store.base import utcnow
from cible.ui import users
from cible.ui.tables import User
from tests.conftest import World

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"


@functools.cache
def _password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture
def people(world: World, database: Database) -> tuple[int, int]:
    """ana (approver) and olga (observer) on acme, and two data sources (one cross-device)."""
    world.tenant("acme")
    with database.session() as s:
        for name, role in (("ana", "approver"), ("olga", "observer")):
            user = User(username=name, password_hash=_password_hash())
            s.add(user)
            s.flush()
            users.grant(s, user, tenant_code="acme", role=role)
    with database.session() as s:
        principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
        site = service.create_data_source(s, principal, DataSourceIn(name="Site"), utcnow())
        crm = service.create_data_source(
            s,
            principal,
            DataSourceIn.model_validate(
                {"name": "CRM", "idType": "CROSS_DEVICE", "useAuthenticatedProfile": True}
            ),
            utcnow(),
        )
        return site.id, crm.id


async def _sign_in(http: httpx.AsyncClient, username: str) -> str:
    page = await http.get("/ui/signin")
    response = await http.post(
        "/ui/signin",
        data={"csrf_token": _csrf(page.text), "username": username, "password": PASSWORD},
    )
    assert response.status_code == 303, response.text
    return _csrf((await http.get("/ui/acme/traits")).text)


async def _folder(http: httpx.AsyncClient, csrf: str, kind: str, name: str) -> int:
    made = await http.post(
        f"/ui/acme/{kind}/folders", data={"csrf_token": csrf, "name": name, "parent": "0"}
    )
    assert made.status_code == 303, made.text
    found = re.search(r"folder=(\d+)", made.headers["location"])
    assert found
    return int(found.group(1))


async def test_trait_editor_checks_rules_with_their_position(
    http: httpx.AsyncClient, people: tuple[int, int], database: Database
) -> None:
    site, _ = people
    csrf = await _sign_in(http, "ana")
    folder = await _folder(http, csrf, "traits", "Checkout")
    listed = await http.get(f"/ui/acme/traits?folder={folder}")
    assert "Checkout" in listed.text and 'aria-current="page"' in listed.text

    check = await http.post(
        "/ui/acme/traits/validate",
        data={"traitRule": 'c_page == "a" AND\nc_total = 5'},
        headers={"X-CSRF-Token": csrf},
    )
    assert check.status_code == 200
    assert "unexpected &#39;=&#39;" in check.text and "(line 2, column 9)" in check.text
    # The caret sits under column 9 of line 2.
    assert "c_total = 5\n        ^</pre>" in check.text
    valid = await http.post(
        "/ui/acme/traits/validate",
        data={"traitRule": 'c_page == "checkout"'},
        headers={"X-CSRF-Token": csrf},
    )
    assert "Valid rule." in valid.text and "<code>c_page</code>" in valid.text

    form = {
        "csrf_token": csrf,
        "name": "Checkout",
        "traitType": "RULE_BASED_TRAIT",
        "dataSourceId": str(site),
        "folderId": str(folder),
        "traitRule": "c_page ==",
        "ttl": "30",
        "status": "ACTIVE",
    }
    refused = await http.post("/ui/acme/traits", data=form)
    assert refused.status_code == 400
    assert "Not saved:" in refused.text and "(line 1, column 8)" in refused.text
    assert 'value="Checkout"' in refused.text  # the form keeps what was typed
    with database.session() as s:
        kinds = set(s.scalars(select(Trait.trait_type)))
    assert kinds == {"FOLDER_TRAIT"}  # nothing stored but the folder's own trait

    saved = await http.post("/ui/acme/traits", data={**form, "traitRule": 'c_page == "checkout"'})
    assert saved.status_code == 303, saved.text
    sid = int(saved.headers["location"].rsplit("/", 1)[1])
    with database.session() as s:
        trait = s.get(Trait, sid)
        assert trait is not None and trait.ttl == 30 and trait.folder_id == folder
        tenant_id = trait.tenant_id
        service.replace_populations(
            s, tenant_id, {("trait", sid, 7): 12, ("trait", sid, 0): 40}, utcnow()
        )
    page = await http.get(f"/ui/acme/traits/{sid}")
    assert "Populations" in page.text and "<dd>12</dd>" in page.text and "<dd>40</dd>" in page.text
    edited = await http.post(f"/ui/acme/traits/{sid}", data={**form, "traitRule": 'c_p == "2"'})
    assert edited.status_code == 303
    with database.session() as s:
        trait = s.get(Trait, sid)
        assert trait is not None and trait.trait_rule == 'c_p == "2"' and trait.rule_version == 2
    listing = await http.get(f"/ui/acme/traits?folder={folder}")
    assert f'href="/ui/acme/traits/{sid}"' in listing.text and "<td>12</td>" in listing.text


async def test_segment_editor_merge_rule_and_roles(
    http: httpx.AsyncClient, people: tuple[int, int], database: Database
) -> None:
    site, crm = people
    csrf = await _sign_in(http, "ana")
    trait_folder = await _folder(http, csrf, "traits", "All")
    folder = await _folder(http, csrf, "segments", "Buyers")
    with database.session() as s:
        principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
        trait_id = s.scalar(select(Trait.id).where(Trait.folder_id == trait_folder))
    assert trait_id is not None
    page = await http.get(f"/ui/acme/segments/new?folder={folder}")
    assert "CRM (LAST_AUTHENTICATED)" in page.text  # cross-device sources offer a merge rule
    assert "Site (" not in page.text

    unknown = await http.post(
        "/ui/acme/segments/validate",
        data={"segmentRule": "999999T"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "unknown trait 999999T" in unknown.text
    form = {
        "csrf_token": csrf,
        "name": "Buyers",
        "dataSourceId": str(site),
        "folderId": str(folder),
        "segmentRule": f"frequency([{trait_id}T]) <= 5",
        "mergeRuleDataSourceId": str(crm),
        "status": "ACTIVE",
    }
    refused = await http.post("/ui/acme/segments", data=form)
    assert refused.status_code == 400 and "rejects for performance" in refused.text
    saved = await http.post("/ui/acme/segments", data={**form, "segmentRule": f"{trait_id}T"})
    assert saved.status_code == 303, saved.text
    sid = int(saved.headers["location"].rsplit("/", 1)[1])
    with database.session() as s:
        segment = s.get(Segment, sid)
        assert segment is not None and segment.merge_rule_data_source_id == crm
    assert principal.tenant_id

    http.cookies.clear()
    olga = await _sign_in(http, "olga")
    page = await http.get(f"/ui/acme/segments/{sid}")
    assert page.status_code == 200 and "disabled" in page.text
    denied = await http.post(
        f"/ui/acme/segments/{sid}", data={**form, "csrf_token": olga, "name": "Renamed"}
    )
    assert denied.status_code == 403
    with database.session() as s:
        segment = s.get(Segment, sid)
        assert segment is not None and segment.name == "Buyers"

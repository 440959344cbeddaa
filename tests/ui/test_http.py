"""The admin web UI in-process: sessions, CSRF, roles, headers, and that it uses the services.

Driven with httpx over the ASGI app (``tests/conftest.py``'s ``http``), no browser.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.routing import iter_route_contexts

from cible.activities.abxt import service as activities
from cible.activities.abxt.schemas import ActivityIn
from cible.activities.offers import service as offers
from cible.activities.offers.schemas import ContentOfferIn
from cible.jobs.tables import DEAD, Job
from cible.store import Database
from cible.ui import users
from cible.ui._context import SESSION_COOKIE
from cible.ui.tables import User
from cible.web.app import create_app
from tests.conftest import BACKENDS, FakeClock, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

PASSWORD = "correct horse battery"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "ui.md"


@functools.cache
def _password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def _sign_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Signs ``http`` in; returns the CSRF token of the session's forms."""
    page = await http.get("/ui/signin")
    response = await http.post(
        "/ui/signin",
        data={"csrf_token": _csrf(page.text), "username": username, "password": password},
    )
    assert response.status_code == 303, response.text
    home = await http.get("/ui/acme/activities")
    assert home.status_code == 200
    return _csrf(home.text)


@pytest.fixture
def people(world: World, database: Database) -> None:
    world.tenant("acme")
    world.tenant("beta")
    with database.session() as s:
        for name, role in (("ana", "approver"), ("ed", "editor"), ("olga", "observer")):
            # One Argon2 hash for every test (hashing costs ~0.3 s); create_user is tested
            # through the CLI in test_users.py.
            user = User(username=name, password_hash=_password_hash())
            s.add(user)
            s.flush()
            users.grant(s, user, tenant_code="acme", role=role)


def _seed(database: Database, name: str = "Seeded") -> tuple[int, int]:
    """An offer and a saved A/B activity on mbox ``home``, made as ``ana``."""
    with database.session() as s:
        principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
        from cible.store.base import utcnow

        offer = offers.create_offer(
            s,
            principal,
            "content",
            ContentOfferIn(name=f"{name} offer", content="<p>x</p>"),
            utcnow(),
        )
        body = ActivityIn.model_validate(
            {
                "name": name,
                "options": [{"optionLocalId": 0, "offerId": offer.id}],
                "locations": {"mboxes": [{"locationLocalId": 0, "name": "home"}]},
                "experiences": [
                    {
                        "experienceLocalId": 0,
                        "name": "Only",
                        "visitorPercentage": 100,
                        "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
                    }
                ],
            }
        )
        return offer.id, activities.create_activity(s, principal, "ab", body, utcnow()).id


async def test_pages_need_a_session(http: httpx.AsyncClient, people: None) -> None:
    assert (await http.get("/")).headers["location"] == "/ui/"
    for path in ("/ui/", "/ui/acme/activities", "/ui/acme/offers/1"):
        response = await http.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/signin"
    htmx = await http.post("/ui/acme/offers", headers={"HX-Request": "true"})
    assert htmx.status_code == 204
    assert htmx.headers["hx-redirect"] == "/ui/signin"


async def test_sign_in_checks_the_password_and_its_form_token(
    http: httpx.AsyncClient, people: None
) -> None:
    page = await http.get("/ui/signin")
    token = _csrf(page.text)
    wrong = await http.post(
        "/ui/signin", data={"csrf_token": token, "username": "ana", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == 401
    assert SESSION_COOKIE not in wrong.cookies
    token = _csrf(wrong.text)  # each sign-in page sets a new token
    unknown = await http.post(
        "/ui/signin", data={"csrf_token": token, "username": "nobody", "password": PASSWORD}
    )
    assert unknown.status_code == 401
    # A sign-in posted from another site carries no matching token cookie.
    token = _csrf(unknown.text)
    http.cookies.clear()
    forged = await http.post(
        "/ui/signin", data={"csrf_token": token, "username": "ana", "password": PASSWORD}
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in forged.cookies


async def test_password_guessing_is_throttled_per_username(
    settings: Any, database: Database, people: None
) -> None:
    slow = settings.model_copy(update={"token_throttle_rate": 0.001, "token_throttle_burst": 2})
    transport = httpx.ASGITransport(app=create_app(slow, database=database))
    async with httpx.AsyncClient(transport=transport, base_url="http://cible.test") as http:
        statuses = []
        for _ in range(3):
            page = await http.get("/ui/signin")
            guess = {"csrf_token": _csrf(page.text), "username": "ana", "password": "guess-guess"}
            statuses.append((await http.post("/ui/signin", data=guess)).status_code)
        assert statuses == [401, 401, 429]
        page = await http.get("/ui/signin")
        right = {"csrf_token": _csrf(page.text), "username": "ana", "password": PASSWORD}
        assert (await http.post("/ui/signin", data=right)).status_code == 429
        page = await http.get("/ui/signin")
        other = {"csrf_token": _csrf(page.text), "username": "ed", "password": PASSWORD}
        assert (await http.post("/ui/signin", data=other)).status_code == 303


async def test_session_cookie_flags_and_sign_out(http: httpx.AsyncClient, people: None) -> None:
    page = await http.get("/ui/signin")
    response = await http.post(
        "/ui/signin",
        data={"csrf_token": _csrf(page.text), "username": "ana", "password": PASSWORD},
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http in this test; see the https test below
    token = http.cookies[SESSION_COOKIE]
    home = await http.get("/ui/acme/activities")
    out = await http.post("/ui/signout", data={"csrf_token": _csrf(home.text)})
    assert out.status_code == 303
    http.cookies.set(SESSION_COOKIE, token)  # the old cookie, replayed
    again = await http.get("/ui/acme/activities")
    assert again.status_code == 303


async def test_cookies_are_secure_over_https(app: Any, people: None) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://cible.test") as http:
        page = await http.get("/ui/signin")
        assert "Secure" in page.headers["set-cookie"]
        response = await http.post(
            "/ui/signin",
            data={"csrf_token": _csrf(page.text), "username": "ana", "password": PASSWORD},
        )
        assert "Secure" in response.headers["set-cookie"]


async def test_sessions_expire(http: httpx.AsyncClient, people: None, clock: FakeClock) -> None:
    await _sign_in(http, "ana")
    clock.advance(seconds=28_800)
    response = await http.get("/ui/acme/activities")
    assert response.status_code == 303


async def test_a_post_without_the_csrf_token_changes_nothing(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    await _sign_in(http, "ana")
    before = count_rows(database, "offers")
    body = {"name": "forged", "content": "<p>x</p>", "type": "content"}
    missing = await http.post("/ui/acme/offers", data=body)
    wrong = await http.post("/ui/acme/offers", data={**body, "csrf_token": "guess"})
    assert missing.status_code == wrong.status_code == 403
    assert count_rows(database, "offers") == before


async def test_roles_are_the_api_roles(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    _, activity_id = _seed(database)
    csrf = await _sign_in(http, "ed")
    page = await http.get(f"/ui/acme/activities/{activity_id}")
    assert re.search(r"<button type=\"submit\" disabled[^>]*>Approve</button>", page.text)
    refused = await http.post(
        f"/ui/acme/activities/{activity_id}/state", data={"csrf_token": csrf, "state": "approved"}
    )
    assert refused.status_code == 403
    assert "User ed lacks the activate right" in refused.text
    with database.session() as s:
        principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
        assert activities.get_activity(s, principal, activity_id).state == "saved"
    other = await http.get("/ui/beta/activities")
    assert other.status_code == 403


async def test_ui_writes_go_through_the_admin_api_services(
    http: httpx.AsyncClient, people: None, world: World, database: Database
) -> None:
    acme = await world.credential("acme", "approver")
    csrf = await _sign_in(http, "ana")
    created = await http.post(
        "/ui/acme/offers",
        data={"csrf_token": csrf, "type": "json", "name": "Banner", "content": '{"a": 1}'},
    )
    assert created.status_code == 303
    offer_id = int(created.headers["location"].rsplit("/", 1)[1])
    api = await http.get(f"/acme/target/offers/json/{offer_id}", headers=acme.headers)
    assert api.status_code == 200
    assert api.json()["content"] == {"a": 1}
    bad = await http.post(
        "/ui/acme/offers",
        data={"csrf_token": csrf, "type": "json", "name": "Broken", "content": "{nope"},
    )
    assert bad.status_code == 400
    assert "content: JSON is malformed" in bad.text
    duplicate = await http.post(
        "/ui/acme/offers",
        data={"csrf_token": csrf, "type": "json", "name": "Banner", "content": "{}"},
    )
    assert duplicate.status_code == 409
    # An A/B activity whose traffic does not sum to 100 gets the service's own message.
    form = {
        "csrf_token": csrf,
        "type": "ab",
        "name": "Half",
        "location": "hero",
        "priority": "5",
        "exp_name": ["A"],
        "exp_offer": [str(offer_id)],
        "exp_audience": [""],
        "exp_traffic": ["50"],
    }
    half = await http.post("/ui/acme/activities", data=form)
    assert half.status_code == 400
    assert "visitorPercentage must sum to 100" in half.text
    whole = await http.post("/ui/acme/activities", data={**form, "exp_traffic": ["100"]})
    assert whole.status_code == 303
    activity_id = int(whole.headers["location"].rsplit("/", 1)[1])
    approved = await http.post(
        f"/ui/acme/activities/{activity_id}/state", data={"csrf_token": csrf, "state": "approved"}
    )
    assert approved.status_code == 303
    api = await http.get(
        f"/acme/target/activities/ab/{activity_id}",
        headers={**acme.headers, "Accept": "application/vnd.adobe.target.v3+json"},
    )
    assert api.json()["state"] == "approved"
    assert api.json()["modifiedByName"] == "ana"
    assert count_rows(database, "jobs") >= 1  # the rebuild the service enqueues


async def test_json_definitions_and_deletion(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    offer_id, _ = _seed(database, "Json")
    csrf = await _sign_in(http, "ana")
    definition = {
        "options": [{"optionLocalId": 0, "offerId": offer_id}],
        "locations": {
            "mboxes": [{"locationLocalId": 0, "name": "a"}, {"locationLocalId": 1, "name": "b"}]
        },
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "Both",
                "optionLocations": [
                    {"locationLocalId": 0, "optionLocalId": 0},
                    {"locationLocalId": 1, "optionLocalId": 0},
                ],
            }
        ],
    }
    form = {
        "csrf_token": csrf,
        "type": "xt",
        "name": "Two places",
        "mode": "json",
        "definition": json.dumps(definition),
    }
    made = await http.post("/ui/acme/activities", data=form)
    assert made.status_code == 303, made.text
    page = made.headers["location"]
    edit = await http.get(page + "/edit")
    assert 'value="json" checked' in edit.text  # two locations: only JSON can show it
    bad = await http.post("/ui/acme/activities", data={**form, "definition": "[1]"})
    assert bad.status_code == 400 and "definition: must be a JSON object" in bad.text
    gone = await http.post(page + "/state", data={"csrf_token": csrf, "state": "deleted"})
    assert gone.status_code == 303
    assert (await http.get(page)).status_code == 404


async def test_preview_and_audience_tester_decide_with_the_engine(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    _, activity_id = _seed(database, "Previewed")
    csrf = await _sign_in(http, "olga")  # previews only read
    preview = await http.post(
        f"/ui/acme/activities/{activity_id}/preview",
        data={"csrf_token": csrf, "visitor_id": "v-1", "mbox": "home"},
    )
    assert preview.status_code == 200
    assert "Experience: Only" in preview.text
    assert "this activity alone" in preview.text
    rule = {
        "csrf_token": csrf,
        "visitor_id": "v-1",
        "category": ["mbox"],
        "attribute": ["tier"],
        "operator": ["equals"],
        "values": ["gold"],
    }
    yes = await http.post("/ui/acme/audiences/test", data={**rule, "parameters": "tier=Gold"})
    no = await http.post("/ui/acme/audiences/test", data={**rule, "parameters": "tier=silver"})
    assert "Matches" in yes.text
    assert "Does not match" in no.text
    ana = await _sign_in(http, "ana")
    saved = await http.post("/ui/acme/audiences", data={**rule, "csrf_token": ana, "name": "Gold"})
    assert saved.status_code == 303
    edit = await http.get(saved.headers["location"])
    assert 'name="attribute" value="tier"' in edit.text
    assert 'name="values" value="gold"' in edit.text
    broken = await http.post(
        "/ui/acme/audiences/test",
        data={**rule, "csrf_token": ana, "operator": ["between"], "parameters": "tier=1"},
    )
    assert "between" in broken.text


async def test_api_client_secrets_are_shown_once_and_roles_never_grow(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    csrf = await _sign_in(http, "ed")
    higher = await http.post(
        "/ui/acme/clients", data={"csrf_token": csrf, "name": "ci", "role": "approver"}
    )
    assert higher.status_code == 403
    made = await http.post(
        "/ui/acme/clients", data={"csrf_token": csrf, "name": "ci", "role": "editor"}
    )
    assert made.status_code == 201
    secret = re.search(r'id="new-secret">([^<]+)<', made.text)
    assert secret and secret.group(1).startswith("p8e-")
    listing = await http.get("/ui/acme/clients")
    assert secret.group(1) not in listing.text


async def test_dead_jobs_can_be_retried(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    with database.session() as s:
        acme_id = users.tenants_of(s, users.get_user(s, "ana"))[0].id
        from cible.store.base import utcnow

        dead = Job(
            kind="artifacts.rebuild",
            payload=f'{{"tenantId":{acme_id}}}',
            state=DEAD,
            attempts=8,
            max_attempts=8,
            run_at=utcnow(),
            last_error="boom",
        )
        other = Job(
            kind="artifacts.rebuild",
            payload=f'{{"tenantId":{acme_id + 1}}}',
            state=DEAD,
            attempts=8,
            max_attempts=8,
            run_at=utcnow(),
            last_error="beta-secret-error",
        )
        s.add_all([dead, other])
        s.flush()
        dead_id, other_id = dead.id, other.id
    csrf = await _sign_in(http, "ana")
    page = await http.get("/ui/acme/jobs")
    assert "boom" in page.text
    assert "beta-secret-error" not in page.text
    assert (
        await http.post(f"/ui/acme/jobs/{other_id}/retry", data={"csrf_token": csrf})
    ).status_code == 404
    retried = await http.post(f"/ui/acme/jobs/{dead_id}/retry", data={"csrf_token": csrf})
    assert retried.status_code == 303
    with database.session() as s:
        job = s.get(Job, dead_id)
        assert job is not None and (job.state, job.attempts) == ("pending", 0)


async def test_headers_forbid_framing_and_inline_script(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    offer_id, activity_id = _seed(database)
    await _sign_in(http, "ana")
    for path in (
        "/ui/signin",
        "/ui/acme/activities",
        f"/ui/acme/activities/{activity_id}",
        "/ui/acme/audiences/new",
        "/ui/acme/jobs",
    ):
        response = await http.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
        assert not re.search(r"\son[a-z]+=", response.text), path
        assert not re.search(r"\sstyle=", response.text), path
    frame = await http.get(f"/ui/acme/offers/{offer_id}/frame")
    assert frame.headers["content-security-policy"].startswith("sandbox;")
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]


async def test_report_and_audience_manager_pages(
    http: httpx.AsyncClient, people: None, database: Database
) -> None:
    _, activity_id = _seed(database, "Reported")
    await _sign_in(http, "olga")
    report = await http.get(f"/ui/acme/activities/{activity_id}/report?countingMethod=visit")
    assert report.status_code == 200
    assert "Only (control)" in report.text
    wrong = await http.get(f"/ui/acme/activities/{activity_id}/report?countingMethod=pages")
    assert "countingMethod" in wrong.text
    for path in ("/ui/acme/traits", "/ui/acme/segments"):
        assert (await http.get(path)).status_code == 200


def test_every_ui_route_is_documented(app: Any) -> None:
    text = DOCS.read_text()
    ui_app = next(r for r in app.routes if getattr(r, "path", "") == "/ui").app
    missing = []
    for context in iter_route_contexts(ui_app.routes):
        for method in sorted(context.methods or ()):
            if method != "HEAD" and f"`{method} /ui{context.path}`" not in text:
                missing.append(f"`{method} /ui{context.path}`")
    assert missing == [], f"document these routes in docs/ui.md: {missing}"

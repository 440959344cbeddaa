"""Credentials and roles: the token endpoint, 401s, 403s, revocation and tenant isolation."""

from __future__ import annotations

import jwt
import pytest

from cible.tenants import service as tenants
from tests.conftest import SECRET_KEY, Credential, FakeClock, World, count_rows

pytestmark = pytest.mark.anyio

OFFERS = "/acme/target/offers"


async def test_token_endpoint_shape(world: World) -> None:
    world.tenant("acme")
    with world.database.session() as s:
        new = tenants.create_client(s, tenant_code="acme", role="editor")
    response = await world.http.post(
        "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": new.client_id,
            "client_secret": new.client_secret,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86_400
    assert (
        jwt.decode(
            body["access_token"], SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False}
        )["sub"]
        == new.client_id
    )
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("form", "status", "oauth_error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "password", "client_id": "a", "client_secret": "b"},
            400,
            "unsupported_grant_type",
        ),
        ({"grant_type": "client_credentials"}, 400, "invalid_request"),
    ],
)
async def test_token_endpoint_errors(
    world: World, form: dict[str, str], status: int, oauth_error: str
) -> None:
    response = await world.http.post("/ims/token/v3", data=form)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == oauth_error
    assert body["httpStatus"] == status and body["errors"]


async def test_wrong_secret_gets_no_token(world: World, acme: Credential) -> None:
    response = await world.http.post(
        "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": acme.client_id,
            "client_secret": acme.secret + "x",
        },
    )
    assert response.status_code == 401


async def test_token_endpoint_wants_a_form(world: World, acme: Credential) -> None:
    response = await world.http.post(
        "/ims/token/v3", json={"grant_type": "client_credentials", "client_id": acme.client_id}
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc", "X-Api-Key": "k"},
        {"Authorization": "Bearer not.a.jwt", "X-Api-Key": "k"},
    ],
)
async def test_missing_or_malformed_credentials_are_401(
    world: World, acme: Credential, headers: dict[str, str]
) -> None:
    assert (await world.http.get(OFFERS, headers=headers)).status_code == 401


async def test_missing_api_key_is_401(world: World, acme: Credential) -> None:
    response = await world.http.get(OFFERS, headers={"Authorization": f"Bearer {acme.token}"})
    assert response.status_code == 401
    assert "X-Api-Key" in response.json()["errors"][0]["message"]


async def test_mismatched_api_key_is_401(world: World, acme: Credential) -> None:
    other = await world.credential("acme", "editor")
    headers = {"Authorization": f"Bearer {acme.token}", "X-Api-Key": other.client_id}
    assert (await world.http.get(OFFERS, headers=headers)).status_code == 401


async def test_forged_token_is_401(world: World, acme: Credential) -> None:
    forged = jwt.encode(
        {"sub": acme.client_id, "iss": "cible-ims", "iat": 1, "exp": 4_000_000_000},
        "another-key-of-sufficient-length-0123456789",
        algorithm="HS256",
    )
    headers = {"Authorization": f"Bearer {forged}", "X-Api-Key": acme.client_id}
    response = await world.http.get(OFFERS, headers=headers)
    assert response.status_code == 401
    unsigned = jwt.encode(
        {"sub": acme.client_id, "iss": "cible-ims", "iat": 1, "exp": 4_000_000_000},
        None,
        algorithm="none",
    )
    headers = {"Authorization": f"Bearer {unsigned}", "X-Api-Key": acme.client_id}
    assert (await world.http.get(OFFERS, headers=headers)).status_code == 401


async def test_expired_token_is_401(world: World, acme: Credential, clock: FakeClock) -> None:
    assert (await world.http.get(OFFERS, headers=acme.headers)).status_code == 200
    clock.advance(seconds=86_401)
    response = await world.http.get(OFFERS, headers=acme.headers)
    assert response.status_code == 401
    assert "expired" in response.json()["errors"][0]["message"]


async def test_revoking_a_client_invalidates_its_tokens(world: World, acme: Credential) -> None:
    assert (await world.http.get(OFFERS, headers=acme.headers)).status_code == 200
    with world.database.session() as s:
        tenants.revoke_client(s, acme.client_id)
    assert (await world.http.get(OFFERS, headers=acme.headers)).status_code == 401
    token = await world.http.post(
        "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": acme.client_id,
            "client_secret": acme.secret,
        },
    )
    assert token.status_code == 401


async def test_another_tenants_client_reads_and_changes_nothing(
    world: World, acme: Credential
) -> None:
    created = await world.http.post(
        OFFERS + "/content", json={"name": "A's", "content": "a"}, headers=acme.headers
    )
    offer_id = created.json()["id"]
    world.tenant("beta")
    beta = await world.credential("beta", "approver")
    for method, path, body in [
        ("GET", OFFERS, None),
        ("GET", f"{OFFERS}/content/{offer_id}", None),
        ("PUT", f"{OFFERS}/content/{offer_id}", {"name": "stolen", "content": "b"}),
        ("DELETE", f"{OFFERS}/content/{offer_id}", None),
        ("POST", f"{OFFERS}/content", {"name": "planted", "content": "b"}),
    ]:
        response = await world.http.request(method, path, json=body, headers=beta.headers)
        assert response.status_code == 403, (method, path)
        assert "A's" not in response.text
    # Through its own tenant path, beta cannot reach acme's offer id either.
    own = await world.http.get(f"/beta/target/offers/content/{offer_id}", headers=beta.headers)
    assert own.status_code == 404
    assert (await world.http.get("/beta/target/offers", headers=beta.headers)).json()["total"] == 0
    read = await world.http.get(f"{OFFERS}/content/{offer_id}", headers=acme.headers)
    assert read.json()["name"] == "A's"
    assert count_rows(world.database, "offers") == 1


@pytest.mark.parametrize(
    ("role", "can_read", "can_write"),
    [
        ("observer", True, False),
        ("editor", True, True),
        ("approver", True, True),
        ("publisher", True, False),
    ],
)
async def test_roles(
    world: World, acme: Credential, role: str, can_read: bool, can_write: bool
) -> None:
    cred = await world.credential("acme", role)
    read = await world.http.get(OFFERS, headers=cred.headers)
    assert (read.status_code == 200) is can_read
    write = await world.http.post(
        OFFERS + "/content", json={"name": role, "content": ""}, headers=cred.headers
    )
    assert write.status_code == (201 if can_write else 403)


async def test_workspace_limited_role(world: World, acme: Credential) -> None:
    with world.database.session() as s:
        tenant = tenants.get_tenant(s, "acme")
        from cible.tenants.tables import Workspace

        s.add(Workspace(tenant_id=tenant.id, name="EMEA"))
    emea = await world.credential("acme", "editor", workspace="EMEA")
    default_offer = await world.http.post(
        OFFERS + "/content", json={"name": "global", "content": ""}, headers=acme.headers
    )
    mine = await world.http.post(
        OFFERS + "/content",
        json={"name": "emea", "content": "", "workspace": "EMEA"},
        headers=emea.headers,
    )
    assert mine.status_code == 201, mine.text
    # Without a workspace, the body targets the default workspace, where this client holds nothing.
    assert (
        await world.http.post(
            OFFERS + "/content", json={"name": "x", "content": ""}, headers=emea.headers
        )
    ).status_code == 403
    listed = (await world.http.get(OFFERS, headers=emea.headers)).json()
    assert [o["name"] for o in listed["offers"]] == ["emea"]
    hidden = await world.http.get(
        f"{OFFERS}/content/{default_offer.json()['id']}", headers=emea.headers
    )
    assert hidden.status_code == 404
    unknown = await world.http.post(
        OFFERS + "/content",
        json={"name": "y", "content": "", "workspace": "Nowhere"},
        headers=acme.headers,
    )
    assert unknown.status_code == 400
    assert "workspace" in unknown.json()["errors"][0]["message"]

"""The engine's spec cases (tests/spec/decisioning) through ``POST /rest/v1/delivery``.

Each case's artifact is injected as the app's artifact source, its tenant created, its profile
stored, its instant set on the server clock; the response must give the case's decisions. Cases
the server cannot reproduce by construction are skipped with the reason: a request without a
visitor id (the server gives every visitor a tntId, which then drives allocation) or without a
decision instant (the server always knows the time). A case the engine decides but the API
refuses as invalid says so (``"deliveryStatus": 400``) and must get that 400; any other 400
fails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cible.engine import load_artifact
from cible.profiles import service as profiles
from cible.tenants.tables import Tenant
from tests.spec.spec_cases import assert_decision_matches, case_now, load_decisioning_cases

from . import _scenario as sc

CASES = load_decisioning_cases()


def _skip_reason(case: dict[str, Any]) -> str | None:
    ids = case["request"].get("id") or {}
    if not (ids.get("tntId") or ids.get("marketingCloudVisitorId")):
        return "no tntId or marketingCloudVisitorId: the server assigns a tntId"
    if case_now(case) is None:
        return "no 'now': the server always decides at its current time"
    return None


@pytest.mark.anyio
@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
async def test_delivery_api_gives_the_spec_decision(
    case: dict[str, Any], world: Any, app: Any, http: Any, database: Any, clock: Any
) -> None:
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    loaded = load_artifact(case["artifact"])
    client = case["client"] or loaded.client_code or "acme"
    world.tenant(client)
    sc.install(app, loaded)
    clock.now = case_now(case) or datetime.now(UTC)
    request = dict(case["request"])
    tnt_id = (request.get("id") or {}).get("tntId")
    if case["profile"] and tnt_id:
        with database.session() as s:
            tenant_id = s.query(Tenant.id).filter(Tenant.client_code == client).scalar()
            profile = profiles.new_profile(tenant_id, "tnt", tnt_id, clock.now)
            profiles.apply_attributes(profile, case["profile"], clock.now)
            s.add(profile)
            s.flush()
            s.add_all(profiles.id_rows("tnt", tnt_id, profile))
    response = await http.post(f"/rest/v1/delivery?client={client}&sessionId=spec", json=request)
    # A request the engine decides but the API refuses says so in the case ("deliveryStatus").
    expected_status = case.get("deliveryStatus", 200)
    assert response.status_code == expected_status, response.text
    if expected_status != 200:
        return
    assert_decision_matches(case, response.json())

"""Helpers shared by the activity tests: offers, audiences and activity bodies."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import select

from cible.activities.audiences.tables import Audience
from cible.jobs.tables import Job
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import Credential

V1 = "application/vnd.adobe.target.v1+json"
V3 = "application/vnd.adobe.target.v3+json"


def v3(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V3, "Accept": V3}


def v1(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V1, "Accept": V1}


async def offer(http: httpx.AsyncClient, cred: Credential, name: str, tenant: str = "acme") -> int:
    response = await http.post(
        f"/{tenant}/target/offers/content",
        json={"name": name, "content": f"<p>{name}</p>"},
        headers=cred.headers,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def audience(database: Database, tenant: str, name: str, rule: dict[str, Any] | None = None) -> int:
    """An audience row (written directly: the audiences API is another module's concern)."""
    with database.session() as s:
        t = tenants.get_tenant(s, tenant)
        row = Audience(
            tenant_id=t.id,
            workspace_id=tenants.default_workspace(s, t.id).id,
            name=name,
            description="",
            target_rule=orjson.dumps(rule or {"mbox": "tier", "equals": ["gold"]}).decode(),
        )
        s.add(row)
        s.flush()
        return row.id


def ab_body(offers: list[int], **extra: Any) -> dict[str, Any]:
    """An A/B body splitting ``hero`` evenly between one experience per offer."""
    share = 100 // len(offers)
    experiences = [
        {
            "experienceLocalId": i,
            "name": f"Experience {chr(65 + i)}",
            "visitorPercentage": share + (100 - share * len(offers) if i == 0 else 0),
            "optionLocations": [{"locationLocalId": 0, "optionLocalId": i}],
        }
        for i in range(len(offers))
    ]
    body: dict[str, Any] = {
        "name": "Hero test",
        "priority": 5,
        "options": [
            {"optionLocalId": i, "name": f"Option {i}", "offerId": o} for i, o in enumerate(offers)
        ],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": experiences,
        "metrics": [
            {
                "metricLocalId": 32767,
                "name": "Order",
                "conversion": True,
                "mboxes": [{"name": "orderConfirmPage", "successEvent": "mbox_shown"}],
                "action": {"type": "count_once"},
            }
        ],
    }
    body.update(extra)
    return body


def xt_body(offers: list[int], audiences: list[int], **extra: Any) -> dict[str, Any]:
    """An XT body: one experience per audience, then a fallback experience without one."""
    experiences = [
        {
            "experienceLocalId": i,
            "name": f"For audience {a}",
            "audienceIds": [a],
            "optionLocations": [{"locationLocalId": 0, "optionLocalId": i}],
        }
        for i, a in enumerate(audiences)
    ]
    n = len(audiences)
    experiences.append(
        {
            "experienceLocalId": n,
            "name": "Everyone else",
            "optionLocations": [{"locationLocalId": 0, "optionLocalId": n}],
        }
    )
    body: dict[str, Any] = {
        "name": "Targeted hero",
        "options": [{"optionLocalId": i, "offerId": o} for i, o in enumerate(offers)],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": experiences,
    }
    body.update(extra)
    return body


def pending_rebuilds(database: Database) -> list[dict[str, Any]]:
    with database.session() as s:
        rows = s.scalars(select(Job).where(Job.kind == "artifacts.rebuild", Job.state == "pending"))
        return [orjson.loads(job.payload) for job in rows]

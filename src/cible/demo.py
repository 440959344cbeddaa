"""Demo data for a first run: tenant ``demo``, an approver API client and a few offers.

Idempotent: a second run finds the tenant and leaves it as it is (no new client is minted, since
a secret can be shown only once).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.offers.tables import Offer
from cible.store.base import utcnow
from cible.tenants import service as tenants
from cible.tenants.tables import Tenant

DEMO_TENANT = "demo"

OFFERS = [
    ("content", "Hero - control", "<h1>Welcome</h1>"),
    ("content", "Hero - spring sale", "<h1>Spring sale: 20% off everything</h1>"),
    ("json", "Banner config - default", {"color": "blue", "cta": "Shop now"}),
    ("json", "Banner config - bold", {"color": "red", "cta": "Grab the deal"}),
]


@dataclass(frozen=True)
class DemoResult:
    tenant: Tenant
    created: bool
    client_id: str | None
    client_secret: str | None


def load_demo(session: Session) -> DemoResult:
    existing = session.scalar(select(Tenant).where(Tenant.client_code == DEMO_TENANT))
    if existing is not None:
        return DemoResult(existing, False, None, None)
    tenant = tenants.create_tenant(session, DEMO_TENANT, "Demo")
    new = tenants.create_client(session, tenant_code=DEMO_TENANT, role="approver", name="demo")
    ws = tenants.default_workspace(session, tenant.id)
    now = utcnow()
    for kind, name, content in OFFERS:
        text = orjson.dumps(content).decode() if kind == "json" else str(content)
        session.add(
            Offer(
                tenant_id=tenant.id,
                workspace_id=ws.id,
                type=kind,
                name=name,
                content=text,
                created_at=now,
                modified_at=now,
                modified_by=new.client_id,
            )
        )
    session.flush()
    return DemoResult(tenant, True, new.client_id, new.client_secret)

"""Demo data for a first run, created through the same services as the Admin API.

Tenant ``demo`` with an approver API client, four offers, two audiences, one live A/B test and
one live experience-targeting activity, so a newcomer sees decisions at once. Idempotent: a
second run finds the tenant and leaves it as it is (no new client is minted, since a secret can
be shown only once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.abxt import service as activities
from cible.activities.abxt.schemas import ActivityIn
from cible.activities.audiences import service as audiences
from cible.activities.audiences.schemas import AudienceIn
from cible.activities.offers import service as offers
from cible.activities.offers.schemas import ContentOfferIn, JsonOfferIn
from cible.jobs import run_pending
from cible.store import Database
from cible.store.base import utcnow
from cible.tenants import service as tenants
from cible.tenants.principal import Principal
from cible.tenants.roles import Role
from cible.tenants.tables import Tenant

DEMO_TENANT = "demo"

OFFERS: list[tuple[str, str, Any]] = [
    ("content", "Hero - control", "<h1>Welcome</h1>"),
    ("content", "Hero - spring sale", "<h1>Spring sale: 20% off everything</h1>"),
    ("json", "Banner config - default", {"color": "blue", "cta": "Shop now"}),
    ("json", "Banner config - bold", {"color": "red", "cta": "Grab the deal"}),
]

AUDIENCES: list[tuple[str, dict[str, Any]]] = [
    ("Gold members", {"mbox": "loyalty", "equals": ["gold"]}),
    ("Spring campaign traffic", {"page": "query", "contains": ["campaign=spring"]}),
]


@dataclass(frozen=True)
class DemoResult:
    tenant: Tenant
    created: bool
    client_id: str | None
    client_secret: str | None


def install_demo(db: Database) -> DemoResult:
    """Loads the demo data and builds its artifacts right away, so decisions work at once."""
    with db.session() as session:
        result = load_demo(session)
    run_pending(db)
    return result


def load_demo(session: Session) -> DemoResult:
    existing = session.scalar(select(Tenant).where(Tenant.client_code == DEMO_TENANT))
    if existing is not None:
        return DemoResult(existing, False, None, None)
    tenant = tenants.create_tenant(session, DEMO_TENANT, "Demo")
    new = tenants.create_client(session, tenant_code=DEMO_TENANT, role="approver", name="demo")
    principal = Principal(
        client_id=new.client_id,
        client_pk=new.client.id,
        tenant_id=tenant.id,
        tenant_code=tenant.client_code,
        grants={None: frozenset({Role.APPROVER})},
    )
    _author(session, principal)
    return DemoResult(tenant, True, new.client_id, new.client_secret)


def _author(session: Session, principal: Principal) -> None:
    now = utcnow()
    offer_ids = []
    for kind, name, content in OFFERS:
        model = JsonOfferIn if kind == "json" else ContentOfferIn
        body = model.model_validate({"name": name, "content": content})
        offer_ids.append(offers.create_offer(session, principal, kind, body, now).id)
    audience_ids = [
        audiences.create_audience(
            session,
            principal,
            AudienceIn.model_validate({"name": name, "targetRule": rule}),
            now,
        ).id
        for name, rule in AUDIENCES
    ]
    hero_test = {
        "name": "Homepage hero test",
        "state": "approved",
        "priority": 5,
        "options": [
            {"optionLocalId": 0, "name": "Control", "offerId": offer_ids[0]},
            {"optionLocalId": 1, "name": "Spring sale", "offerId": offer_ids[1]},
        ],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "Control",
                "visitorPercentage": 50,
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            },
            {
                "experienceLocalId": 1,
                "name": "Spring sale",
                "visitorPercentage": 50,
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 1}],
            },
        ],
        "metrics": [
            {
                "metricLocalId": 32767,
                "name": "Order placed",
                "conversion": True,
                "mboxes": [{"name": "orderConfirmPage", "successEvent": "mbox_shown"}],
                "action": {"type": "count_once"},
            }
        ],
    }
    banner_targeting = {
        "name": "Banner by audience",
        "state": "approved",
        "priority": 5,
        "options": [
            {"optionLocalId": 0, "name": "Bold", "offerId": offer_ids[3]},
            {"optionLocalId": 1, "name": "Default", "offerId": offer_ids[2]},
        ],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "banner"}]},
        # XT: the first experience whose audience matches wins (an experience's audiences
        # are ANDed, so each audience gets its own experience here).
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "Gold members",
                "audienceIds": [audience_ids[0]],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            },
            {
                "experienceLocalId": 1,
                "name": "Spring campaign traffic",
                "audienceIds": [audience_ids[1]],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            },
            {
                "experienceLocalId": 2,
                "name": "Everyone else",
                "audienceIds": [],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 1}],
            },
        ],
        "metrics": [
            {
                "metricLocalId": 32767,
                "name": "Banner clicked",
                "conversion": True,
                "mboxes": [{"name": "banner", "successEvent": "mbox_clicked"}],
                "action": {"type": "count_once"},
            }
        ],
    }
    for kind, definition in (("ab", hero_test), ("xt", banner_targeting)):
        activities.create_activity(
            session, principal, kind, ActivityIn.model_validate(definition), now
        )

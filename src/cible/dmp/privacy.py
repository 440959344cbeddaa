"""A visitor's audience manager data in ``cible privacy export|delete`` (docs/security.md,
"Privacy"): the device profiles and authenticated profiles his ECID and declared ids lead to,
their id mappings and their segment membership changes.

Registered with ``cible.privacy``'s handler registry, the extension point every kind of visitor
data uses; ``cible.privacy.service`` imports this module so the handler is always present. The
Target ids of the request map to the audience manager's: ``marketingCloudVisitorId`` is the
ECID the DCS saw as ``d_mid``, ``customerId:<integrationCode>`` a declared id of the data
source with that integration code.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cible.dmp import device_data, devices, erase_devices
from cible.privacy.service import Handler, Visitor, register

__all__ = ["AUDIENCE_MANAGER", "device_ids"]


def device_ids(visitor: Visitor) -> list[tuple[str, str]]:
    """The ``(namespace, id)`` pairs of :func:`cible.dmp.segments_for` for a visitor's ids."""
    pairs: list[tuple[str, str]] = []
    for kind, value in visitor.ids:
        if kind == "mcid":
            pairs.append((devices.MID, value))
        elif kind.startswith("cust:"):
            pairs.append((f"ic:{kind.removeprefix('cust:')}", value))
    return pairs


def _export(session: Session, visitor: Visitor) -> list[dict[str, Any]]:
    return device_data(session.connection(), visitor.tenant_id, device_ids(visitor))


def _delete(session: Session, visitor: Visitor) -> int:
    return len(erase_devices(session.connection(), visitor.tenant_id, device_ids(visitor)))


AUDIENCE_MANAGER = Handler("audienceManager", _export, _delete)
register(AUDIENCE_MANAGER)

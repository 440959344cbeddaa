"""Who may read and change recommendations objects.

Adobe's Recommendations objects (catalog, criteria, designs, feeds) belong to the whole tenant, not
to a workspace, like environments and mboxes: any client of the tenant may read them, and only a
client with the write right on the whole tenant may change them (docs/recommendations.md).
"""

from __future__ import annotations

from cible.errors import Forbidden
from cible.tenants.principal import Principal
from cible.tenants.roles import GRANTS, Capability

__all__ = ["require_read", "require_write"]


def require_read(principal: Principal) -> None:
    principal.require(Capability.READ)


def require_write(principal: Principal) -> None:
    tenant_wide = {c for role in principal.grants.get(None, frozenset()) for c in GRANTS[role]}
    if Capability.WRITE not in tenant_wide:
        raise Forbidden(
            f"API client {principal.client_id} needs the write right on the whole tenant "
            "to change recommendations"
        )

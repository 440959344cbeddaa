"""Who is calling: an authenticated API client and the roles it holds on one tenant."""

from __future__ import annotations

from dataclasses import dataclass

from cible.errors import Forbidden
from cible.tenants.roles import GRANTS, Capability, Role


@dataclass(frozen=True)
class Principal:
    """An API client acting on ``tenant_id``; ``grants`` maps a workspace id (None = all)."""

    client_id: str
    client_pk: int
    tenant_id: int
    tenant_code: str
    grants: dict[int | None, frozenset[Role]]

    def can(self, capability: Capability, workspace_id: int | None = None) -> bool:
        """Whether a role on ``workspace_id`` (or on every workspace) grants ``capability``.

        With ``workspace_id`` None, a role on any workspace is enough (used for lists, which are
        then filtered to readable workspaces).
        """
        if workspace_id is None:
            scopes = list(self.grants.values())
        else:
            scopes = [
                self.grants.get(None, frozenset()),
                self.grants.get(workspace_id, frozenset()),
            ]
        return any(capability in GRANTS[role] for roles in scopes for role in roles)

    def require(self, capability: Capability, workspace_id: int | None = None) -> None:
        if not self.can(capability, workspace_id):
            where = "this tenant" if workspace_id is None else f"workspace {workspace_id}"
            raise Forbidden(f"API client {self.client_id} lacks the {capability} right on {where}")

    def readable_workspaces(self) -> set[int] | None:
        """Workspace ids this client may read, or None when it may read all of them."""
        if Capability.READ in {c for r in self.grants.get(None, frozenset()) for c in GRANTS[r]}:
            return None
        return {
            ws
            for ws, roles in self.grants.items()
            if ws is not None and any(Capability.READ in GRANTS[r] for r in roles)
        }

"""Tenants (Target client codes), workspaces, API clients, roles and access tokens."""

from cible.tenants.principal import Principal
from cible.tenants.roles import Capability, Role

__all__ = ["Capability", "Principal", "Role"]

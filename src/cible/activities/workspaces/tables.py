"""Workspaces are stored by ``cible.tenants`` (roles and every domain point at them).

Re-exported so that this package has the layout of every other domain.
"""

from cible.tenants.tables import Workspace

__all__ = ["Workspace"]

"""Workspaces over the Admin API (``/workspaces``, v1): a Cible addition.

Adobe manages workspaces in the Admin Console, not through the Target Admin API; Cible has no
console, so it serves them here. The table itself belongs to ``cible.tenants`` (roles point at
it); ``service.workspace_in_use`` tells what still lives in one.
"""

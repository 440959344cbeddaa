"""HTTP layer: the app factory (``cible.web.app.create_app``), middleware and the conventions
every Admin API route shares.

Nothing is imported here, so a domain's ``routes`` module can import ``cible.web.admin`` without
pulling in the app, which imports every domain's routes.
"""

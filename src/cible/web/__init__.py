"""HTTP layer: the app factory, middleware and the conventions every Admin API route shares."""

from cible.web.app import create_app

__all__ = ["create_app"]

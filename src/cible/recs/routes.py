"""The one recommendations router: every ``/{tenant}/target/recs`` sub-router, included here.

Each module of the package that serves routes defines its own ``router`` (no prefix of its own)
and is added to ``SUBROUTERS``; ``cible.web.app`` registers only this module's ``router``.
"""

from __future__ import annotations

from fastapi import APIRouter

from cible.recs import catalog_routes, criteria_routes, feeds_routes, merchandising_routes

SUBROUTERS: list[APIRouter] = [
    catalog_routes.router,
    criteria_routes.router,
    feeds_routes.router,
    merchandising_routes.router,
]

router = APIRouter(prefix="/{tenant}/target/recs", tags=["recommendations"])
for _sub in SUBROUTERS:
    router.include_router(_sub)

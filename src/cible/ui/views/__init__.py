"""The UI's pages, one module per area; ``ROUTERS`` is what ``cible.ui.app`` mounts."""

from cible.ui.views import (
    activities,
    audience_manager,
    audiences,
    auth,
    catalog,
    clients,
    destinations,
    jobs,
    offers,
    reports,
    reset,
    transfers,
)

ROUTERS = [
    m.router
    for m in (
        auth,
        activities,
        reports,
        reset,
        offers,
        audiences,
        catalog,
        audience_manager,
        destinations,
        transfers,
        clients,
        jobs,
    )
]

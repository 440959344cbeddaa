"""The UI's pages, one module per area; ``ROUTERS`` is what ``cible.ui.app`` mounts."""

from cible.ui.views import activities, audiences, auth, catalog, clients, jobs, offers

ROUTERS = [m.router for m in (auth, activities, offers, audiences, catalog, clients, jobs)]

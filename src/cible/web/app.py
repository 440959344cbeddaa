"""The ASGI application: every API, the middleware stack and the error handlers.

``create_app(settings)`` is the one place that wires domains in; a new domain adds its router
to ``ROUTERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from cible import __version__
from cible.activities.abxt import routes as activities
from cible.activities.audiences import routes as audiences
from cible.activities.autoallocate import routes as autoallocate
from cible.activities.environments import routes as environments
from cible.activities.mboxes import routes as mboxes
from cible.activities.offers import routes as offers
from cible.activities.profileattrs import routes as profileattrs
from cible.activities.properties import routes as properties
from cible.activities.workspaces import routes as workspaces
from cible.artifacts import routes as artifacts
from cible.batch import routes as batch
from cible.config import Settings, get_settings
from cible.delivery import auth_token_routes, notify_routes
from cible.delivery import routes as delivery
from cible.delivery.asgi import DeliveryFastPath
from cible.delivery.geo_maxmind import open_geo_lookup
from cible.delivery.seen import SeenNames
from cible.dmp import routes as dmp
from cible.errors import CibleError
from cible.privacy import routes as privacy
from cible.profiles import routes as profiles
from cible.recs import routes as recs
from cible.reports import routes as reports
from cible.store import Database
from cible.ui import mount_ui
from cible.web import apidocs, ims, openapi, ops
from cible.web.bodylimit import BodyLimitMiddleware
from cible.web.context import RequestContextMiddleware
from cible.web.envelope import on_cible_error, on_http_error, on_validation_error
from cible.web.headers import SecurityHeadersMiddleware
from cible.web.learned import LearnedNamesCollector
from cible.web.metrics import Metrics
from cible.web.throttle import TokenBucketThrottle

# Delivery first: Starlette tries routes in order, and it is the route called on every page.
ROUTERS = [delivery.router, notify_routes.router]
ROUTERS += [ops.router, apidocs.router, ims.router, offers.router, batch.router]
ROUTERS += [m.router for m in (audiences, properties, workspaces, environments, profileattrs)]
ROUTERS += [activities.router, mboxes.router, artifacts.router]
ROUTERS += [profiles.router]
ROUTERS += [dmp.router]
ROUTERS += [reports.router, autoallocate.router]
ROUTERS += [privacy.router]
ROUTERS += [recs.router]
ROUTERS += [auth_token_routes.router]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    """The app for ``settings``; ``clock`` is injectable so tests can age tokens."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Cible",
        version=__version__,
        description="Adobe Target-compatible personalization platform: Admin API, delivery API.",
        # /docs is served from vendored assets (web/apidocs.py); ReDoc would need a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = database or Database(settings.database_url)
    app.state.clock = clock
    app.state.metrics = Metrics()
    app.state.metrics.watch_event_log(app.state.db)
    # Names learned from delivery traffic are capped by settings (docs/security.md); the delivery
    # runtime takes this buffer, and the metric reads whichever buffer it uses.
    app.state.seen_names = SeenNames(
        app.state.db,
        max_mboxes=settings.max_learned_mboxes,
        max_attributes=settings.max_learned_profile_attributes,
        max_parameters=settings.max_learned_mbox_parameters,
    )
    app.state.metrics.registry.register(LearnedNamesCollector(app.state))
    # Geo from the caller's IP (docs/delivery-geo.md); None, with a log line, without a database.
    app.state.geo_lookup = open_geo_lookup(settings.geoip_database)
    if app.state.geo_lookup is not None:
        app.router.on_shutdown.append(app.state.geo_lookup.close)
    app.state.throttle = TokenBucketThrottle(settings.throttle_rate, settings.throttle_burst)
    app.state.token_throttle = TokenBucketThrottle(
        settings.token_throttle_rate, settings.token_throttle_burst
    )
    for router in ROUTERS:
        app.include_router(router)
    mount_ui(app, settings)
    app.add_exception_handler(CibleError, on_cible_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    # Added last = outermost: the context middleware sees every response, 413s included.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost of ours: the delivery route is answered here, before the layers above
    # (cible.delivery.asgi gives its answers what they would have added).
    app.add_middleware(DeliveryFastPath, fastapi=app, max_bytes=settings.max_body_bytes)
    openapi.install(app)
    return app

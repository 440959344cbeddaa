"""The client's configuration: Adobe's option names, plus Cible's additions, checked once.

`TargetClient.create(options)` takes the dict Adobe's `target-python-sdk` takes
(`target_python_sdk/__init__.py`, `TargetClient.create`), with the same names and units:
`timeout` in milliseconds, `polling_interval` in seconds. Unknown names raise, so a typo does not
silently fall back to a default. Cible's additions are listed in `CIBLE_OPTIONS` and in
docs/sdk.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ADOBE_OPTIONS",
    "CIBLE_OPTIONS",
    "DECISIONING_METHODS",
    "NOTIFICATION_ENDPOINTS",
    "Config",
    "EventHandler",
]

EventHandler = Callable[[dict[str, Any]], object]

DECISIONING_METHODS = ("server-side", "on-device", "hybrid")
ENVIRONMENTS = ("production", "staging", "development")
NOTIFICATION_ENDPOINTS = ("auto", "batch", "single")
EVENT_NAMES = ("client_ready", "artifact_download_succeeded", "artifact_download_failed")

# target_python_sdk/__init__.py `TargetClient.create` docstring: every option Adobe documents.
ADOBE_OPTIONS = frozenset(
    {
        "client",
        "organization_id",
        "timeout",
        "server_domain",
        "target_location_hint",
        "secure",
        "logger",
        "decisioning_method",
        "polling_interval",
        "maximum_wait_ready",
        "artifact_location",
        "artifact_payload",
        "environment_id",
        "environment",
        "cdn_environment",
        "cdn_base_path",
        "telemetry_enabled",
        "version",
        "property_token",
        "events",
    }
)
CIBLE_OPTIONS = frozenset(
    {
        "transport",
        "defaults",
        "raise_on_error",
        "session_cache_size",
        "session_timeout",
        "notification_queue_size",
        "notification_batch_size",
        "notification_flush_interval",
        "notification_retries",
        "notification_backoff",
        "notification_concurrency",
        "notification_endpoint",
        "clock",
        "explain",
        "callback_threads",
    }
)


@dataclass(frozen=True, slots=True)
class Config:
    """Validated options; build it with `Config.from_options`."""

    client: str
    organization_id: str
    timeout: float  # seconds (the option is in milliseconds, as in Adobe's SDK)
    server_domain: str
    secure: bool
    decisioning_method: str
    polling_interval: float
    maximum_wait_ready: float
    artifact_location: str | None
    artifact_payload: Any
    cdn_base_path: str | None
    environment_id: int | None
    environment: str
    target_location_hint: str | None
    version: str | None
    property_token: str | None
    events: Mapping[str, EventHandler]
    logger: logging.Logger
    transport: Any
    defaults: Mapping[str, Any]
    raise_on_error: bool
    session_cache_size: int
    session_timeout: float
    notification_queue_size: int
    notification_batch_size: int
    notification_flush_interval: float
    notification_retries: int
    notification_backoff: float
    notification_concurrency: int
    notification_endpoint: str
    explain: bool
    clock: Callable[[], float] = field(default=time.time)
    callback_threads: int = 4

    @property
    def scheme(self) -> str:
        # target_python_sdk/helper.py `get_target_host`: http only when secure is False.
        return "http" if self.secure is False else "https"

    @property
    def delivery_url(self) -> str:
        return f"{self.scheme}://{self.server_domain}/rest/v1/delivery"

    @property
    def notifications_url(self) -> str:
        """Cible's batch notification endpoint (docs/delivery.md), not an Adobe API."""
        return f"{self.scheme}://{self.server_domain}/rest/v1/notifications"

    @property
    def artifact_url(self) -> str:
        if self.artifact_location:
            return self.artifact_location
        path = f"{self.client}/{self.environment}/v1"
        if self.property_token:
            path += f"/{self.property_token}"
        host = self.cdn_base_path or self.server_domain
        return f"{self.scheme}://{host}/{path}/rules.json"

    @property
    def needs_artifact(self) -> bool:
        return self.decisioning_method != "server-side"

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Config:
        if not isinstance(options, Mapping):
            raise ValueError("TargetClient options are required (a dict)")
        unknown = set(options) - ADOBE_OPTIONS - CIBLE_OPTIONS
        if unknown:
            raise ValueError(f"unknown TargetClient option(s): {', '.join(sorted(unknown))}")
        get = options.get
        client = get("client")
        organization_id = get("organization_id")
        if not isinstance(client, str) or not client:
            raise ValueError("'client' (the client code) is required")
        if not isinstance(organization_id, str) or not organization_id:
            raise ValueError("'organization_id' is required")
        method = get("decisioning_method") or "server-side"
        if method not in DECISIONING_METHODS:
            raise ValueError(
                f"'decisioning_method' must be one of {', '.join(DECISIONING_METHODS)}"
            )
        environment = get("environment") or "production"
        if environment not in ENVIRONMENTS:
            raise ValueError(f"'environment' must be one of {', '.join(ENVIRONMENTS)}")
        events = get("events") or {}
        if not isinstance(events, Mapping) or not all(callable(f) for f in events.values()):
            raise ValueError("'events' maps event names to callables")
        unknown_events = set(events) - set(EVENT_NAMES)
        if unknown_events:
            raise ValueError(f"unknown event(s): {', '.join(sorted(unknown_events))}")
        defaults = get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise ValueError("'defaults' maps mbox names to default content")
        logger = get("logger") or logging.getLogger("cible.sdk")
        # Adobe's default host is {client}.tt.omtrdc.net; Cible has no such default on purpose:
        # it would send a self-hosted tenant's traffic to Adobe.
        server_domain = get("server_domain")
        if not isinstance(server_domain, str) or not server_domain:
            if method == "server-side" or not (
                get("artifact_location") or get("artifact_payload") or get("cdn_base_path")
            ):
                raise ValueError("'server_domain' (your Cible host, e.g. 'cible.example:8080')")
            server_domain = ""
        polling = _number(get("polling_interval"), 300.0, "polling_interval")
        endpoint = get("notification_endpoint") or "auto"
        if endpoint not in NOTIFICATION_ENDPOINTS:
            raise ValueError(
                f"'notification_endpoint' must be one of {', '.join(NOTIFICATION_ENDPOINTS)}"
            )
        return cls(
            client=client,
            organization_id=organization_id,
            timeout=_number(get("timeout"), 3000.0, "timeout") / 1000.0,
            server_domain=server_domain,
            secure=get("secure") is not False,
            decisioning_method=method,
            polling_interval=polling,
            maximum_wait_ready=_number(get("maximum_wait_ready"), 0.0, "maximum_wait_ready")
            / 1000.0,
            artifact_location=get("artifact_location"),
            artifact_payload=get("artifact_payload"),
            cdn_base_path=get("cdn_base_path"),
            environment_id=get("environment_id"),
            environment=environment,
            target_location_hint=get("target_location_hint"),
            version=get("version"),
            property_token=get("property_token"),
            events=dict(events),
            logger=logger,
            transport=get("transport"),
            defaults=dict(defaults),
            raise_on_error=bool(get("raise_on_error", False)),
            session_cache_size=int(
                _number(get("session_cache_size"), 10_000, "session_cache_size")
            ),
            session_timeout=_number(get("session_timeout"), 1800.0, "session_timeout"),
            notification_queue_size=int(
                _number(get("notification_queue_size"), 10_000, "notification_queue_size")
            ),
            notification_batch_size=int(
                _number(get("notification_batch_size"), 50, "notification_batch_size")
            ),
            notification_flush_interval=_number(
                get("notification_flush_interval"), 1.0, "notification_flush_interval"
            ),
            notification_retries=int(
                _number(get("notification_retries"), 5, "notification_retries")
            ),
            notification_backoff=_number(get("notification_backoff"), 0.5, "notification_backoff"),
            notification_concurrency=int(
                _number(get("notification_concurrency"), 4, "notification_concurrency")
            ),
            notification_endpoint=endpoint,
            explain=bool(get("explain", False)),
            clock=get("clock") or time.time,
            callback_threads=max(1, int(_number(get("callback_threads"), 4, "callback_threads"))),
        )

    def emit(self, name: str, payload: Mapping[str, Any] | None = None) -> None:
        """Call the `events` callback for `name`; a failing callback is logged, never raised."""
        handler = self.events.get(name)
        if handler is None:
            return
        event = {"type": name, **(payload or {})}
        try:
            handler(event)
        except Exception:
            self.logger.exception("cible.sdk: the %r event callback raised", name)


def _number(value: Any, default: float, name: str) -> float:
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"'{name}' must be a non-negative number")
    return float(value)

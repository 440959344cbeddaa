"""What `TargetClient` and `AsyncTargetClient` share: every step of `get_offers`, as a flow.

`Core.offers(call)` prepares the request the way Adobe's SDK does (`target_python_sdk/target.py`
`execute_delivery`, `helper.py`): the session id from the `mbox` cookie, else the caller's
`session_id`, else a new one; the device id (`PC`) as `id.tntId`; the ECID from the visitor
cookie; `customer_ids`; the configured property token and environment id. Then it decides:

- `server-side`: one delivery call;
- `on-device`: `cible.engine.decide` on the current artifact, no network; the display
  notifications of executed decisions go to the notification queue;
- `hybrid`: on-device for what the artifact can decide, one delivery call for the mboxes and
  views the engine reports as remote, the two merged into one response.

A new visitor deciding on-device gets a tntId here (32 random hex digits, plus
`.<location hint>_0` when a hint is known, as Adobe's SDKs do), so the response and its `mbox`
cookie carry the id that later calls, on-device or server-side, will hash the same way.

When the delivery API cannot answer (down, timeout, error status) the result carries the
caller's `defaults` for the requested mboxes, `meta["error"]` says why, and nothing is cached;
with `raise_on_error` the `DeliveryError` is raised instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cible.engine import EXTRA_KEY, decide
from cible.sdk._artifact import ArtifactState, Loaded
from cible.sdk._cache import (
    CacheEntry,
    CacheKey,
    SessionCache,
    profile_values,
    request_fingerprint,
)
from cible.sdk._config import Config
from cible.sdk._cookies import (
    DEVICE_ID_COOKIE,
    SESSION_ID_COOKIE,
    cluster_from_device_id,
    cluster_from_edge_host,
    location_hint_cookie,
    marketing_cloud_visitor_id,
    parse_target_cookie,
    target_cookie,
)
from cible.sdk._delivery import DeliveryError, delivery_request, read_delivery
from cible.sdk._flow import Flow
from cible.sdk._notifications import Endpoint, NotificationQueue, Pending
from cible.sdk._random import random_id as _random_id

__all__ = ["Call", "Core", "as_request", "make_call"]

_MODES = ("execute", "prefetch")
LOCATION_HINT_SESSION = "ping123"  # the session id of Adobe's startup location hint call


@dataclass(slots=True)
class Call:
    """The arguments of one `get_offers` / `send_notifications` call, as Adobe names them."""

    request: dict[str, Any]
    visitor_cookie: str | None = None
    target_cookie: str | None = None
    target_location_hint: str | None = None
    consumer_id: str | None = None
    customer_ids: Sequence[Mapping[str, Any]] | None = None
    session_id: str | None = None
    decisioning_method: str | None = None
    defaults: Mapping[str, Any] | None = None
    callback: Any = None
    err_callback: Any = None


def as_request(value: Any) -> dict[str, Any]:
    """A delivery request as a camelCase dict: dicts pass through (copied one level deep);
    Adobe's `delivery_api_client` models are converted through their `attribute_map`."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    converted = _from_model(value)
    if not isinstance(converted, dict):
        raise TypeError("request must be a dict in Adobe's delivery JSON shape")
    return converted


def _from_model(value: Any) -> Any:
    attribute_map = getattr(value, "attribute_map", None)
    if isinstance(attribute_map, Mapping):
        out: dict[str, Any] = {}
        for attribute, key in attribute_map.items():
            item = getattr(value, attribute, None)
            if item is not None:
                out[key] = _from_model(item)
        return out
    if isinstance(value, Mapping):
        return {k: _from_model(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_from_model(v) for v in value]
    enum_value = getattr(value, "value", None)
    if enum_value is not None and not isinstance(value, str | int | float | bool):
        return enum_value
    return value


class Core:
    """State shared by both clients: config, artifact, session cache, notification queue."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.artifact = ArtifactState(config)
        self.cache = SessionCache(config.session_cache_size, config.session_timeout)
        self.queue = NotificationQueue(config.notification_queue_size)
        self.endpoint = Endpoint(config.notification_endpoint)
        # The edge cluster of this client's traffic: configured, or learned by `location_hint`.
        self.location_hint = config.target_location_hint
        if config.artifact_payload is not None:
            self.artifact.install(config.artifact_payload)

    # -- get_offers -----------------------------------------------------------------------------

    def offers(self, call: Call) -> Flow[dict[str, Any]]:
        config = self.config
        now = config.clock()
        cookies = parse_target_cookie(call.target_cookie, now)
        session_id = cookies.get(SESSION_ID_COOKIE) or call.session_id or _random_id()
        device_id = cookies.get(DEVICE_ID_COOKIE)
        cluster = (
            cluster_from_device_id(device_id) or call.target_location_hint or self.location_hint
        )
        request = self._prepared(call, device_id)
        method = call.decisioning_method or config.decisioning_method
        loaded = self.artifact.current
        if method != "server-side" and loaded is None:
            if method == "hybrid":
                method = "server-side"  # Adobe: hybrid without an artifact decides remotely
            else:
                error = DeliveryError("on-device decisioning: no artifact loaded yet")
                return self._failed(call, request, session_id, cluster, method, error, now)
        local = method != "server-side"
        if local and not _has_visitor(request["id"]):
            suffix = f".{cluster}_0" if cluster else ""
            request["id"]["tntId"] = _random_id() + suffix

        key: CacheKey | None = None
        profile: tuple[tuple[str, str], ...] = ()
        generation = loaded.generation if local and loaded is not None else 0
        if self.cache.size > 0:
            key = (session_id, method, request_fingerprint(request))
            profile = profile_values(request, loaded.profile_keys if local and loaded else None)
            entry = self.cache.get(key, generation=generation, profile=profile, now=now)
            if entry is not None:
                self._notify(session_id, request, entry.notifications, now)
                result: dict[str, Any] = entry.fresh()
                result["target_cookie"] = target_cookie(session_id, _tnt_id(result), now)
                result["request"] = request
                return result

        notifications: list[dict[str, Any]] = []
        reasons: list[Any] = []
        remote_mboxes: list[str] = []
        remote_views: list[str] = []
        failure: DeliveryError | None = None
        if not local:
            try:
                response = yield from self._remote(session_id, request)
            except DeliveryError as error:
                if config.raise_on_error:
                    raise
                return self._failed(call, request, session_id, cluster, method, error, now)
        else:
            assert loaded is not None
            response, notifications, reasons, remote_mboxes, remote_views = self._local(
                loaded, request, now
            )
            if method == "hybrid" and (remote_mboxes or remote_views):
                subset = _remote_subset(request, loaded, remote_mboxes, remote_views)
                try:
                    remote = yield from self._remote(session_id, subset)
                except DeliveryError as error:
                    if config.raise_on_error:
                        raise
                    # Keep what was decided locally; the remote mboxes get the defaults.
                    failure = error
                    remote = _defaults_response(subset, self._defaults(call))
                _merge(response, remote, set(remote_mboxes), set(remote_views), loaded)
                notifications = [
                    n for n in notifications if n.get("mbox", {}).get("name") not in remote_mboxes
                ]

        cluster = cluster or cluster_from_edge_host(response.get("edgeHost"))
        meta: dict[str, Any] = {
            "decisioning_method": method,
            "remote_mboxes": remote_mboxes,
            "remote_views": remote_views,
        }
        if reasons and config.explain:
            meta["reasons"] = reasons
        if failure is not None:
            self.config.logger.warning("cible.sdk: %s; remote mboxes get defaults", failure)
            meta.update(error=str(failure), defaults_used=True)
            key = None  # a fallback is never cached
        result = _result(response, meta, session_id, cluster, now)
        if key is not None:
            cached = {k: v for k, v in result.items() if k != "target_cookie"}
            self.cache.put(key, CacheEntry.frozen(generation, profile, cached, notifications, now))
        self._notify(session_id, request, notifications, now)
        result["request"] = request
        return result

    def _prepared(self, call: Call, device_id: str | None) -> dict[str, Any]:
        config = self.config
        request = dict(call.request)
        ids = dict(request.get("id") or {})
        if not ids.get("tntId") and device_id:
            ids["tntId"] = device_id
        if not ids.get("marketingCloudVisitorId"):
            ecid = marketing_cloud_visitor_id(call.visitor_cookie)
            if ecid:
                ids["marketingCloudVisitorId"] = ecid
        if call.customer_ids:
            ids["customerIds"] = [*ids.get("customerIds", []), *map(dict, call.customer_ids)]
        request["id"] = ids
        if "context" not in request:
            request["context"] = {"channel": "web"}
        if config.property_token and "property" not in request:
            request["property"] = {"token": config.property_token}
        if config.environment_id is not None and "environmentId" not in request:
            request["environmentId"] = config.environment_id
        return request

    def _local(
        self, loaded: Loaded, request: dict[str, Any], now: float
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any], list[str], list[str]]:
        instant = datetime.fromtimestamp(now, UTC)
        config = self.config
        response = decide(
            loaded.artifact, request, now=instant, client=config.client, trace=config.explain
        )
        # The engine's lists are new on every call: no copy needed.
        extra = response.pop(EXTRA_KEY, None) or {}
        return (
            response,
            extra.get("notifications", []),
            extra.get("reasons", []),
            extra.get("remoteMboxes", []),
            extra.get("remoteViews", []),
        )

    def _remote(self, session_id: str, request: dict[str, Any]) -> Flow[dict[str, Any]]:
        try:
            response = yield delivery_request(self.config, session_id, request)
        except Exception as error:
            raise DeliveryError(f"delivery API unreachable: {error!r}") from error
        assert response is not None
        self.endpoint.observe(response)
        return read_delivery(response)

    def _notify(
        self,
        session_id: str,
        request: Mapping[str, Any],
        notifications: list[dict[str, Any]],
        now: float,
    ) -> None:
        if not notifications:
            return
        if not self.config.server_domain:
            # No delivery host to report to (an on-device client built from an artifact alone).
            self.queue.stats.dropped += len(notifications)
            return
        token = (request.get("property") or {}).get("token")
        pending = Pending(
            session_id,
            dict(request["id"]),
            dict(request.get("context") or {}),
            [{**n, "timestamp": int(now * 1000)} for n in notifications],
            token,
        )
        if not self.queue.put(pending):
            dropped = self.queue.stats.dropped
            # Under sustained overload every call drops: log the first drop and then one line
            # per thousand, with the running total, rather than one line per call.
            if (
                dropped == len(notifications)
                or dropped // 1000 != (dropped - len(notifications)) // 1000
            ):
                self.config.logger.warning(
                    "cible.sdk: notification queue full (%d); %d notification(s) dropped so far",
                    self.queue.size,
                    dropped,
                )
        elif len(self.queue) >= self.config.notification_batch_size:
            self.wake_sender()

    def wake_sender(self) -> None:
        """Overridden by each client to wake its notification sender."""

    def _failed(
        self,
        call: Call,
        request: dict[str, Any],
        session_id: str,
        cluster: str | None,
        method: str,
        error: DeliveryError,
        now: float,
    ) -> dict[str, Any]:
        if self.config.raise_on_error:
            raise error
        self.config.logger.warning("cible.sdk: %s; answering with defaults", error)
        response = _defaults_response(request, self._defaults(call))
        meta = {"decisioning_method": method, "error": str(error), "defaults_used": True}
        result = _result(response, meta, session_id, cluster, now)
        result["request"] = request
        return result

    def _defaults(self, call: Call) -> dict[str, Any]:
        return {**self.config.defaults, **(call.defaults or {})}

    # -- location hint --------------------------------------------------------------------------

    def location_hint_flow(self) -> Flow[str | None]:
        """Adobe's startup call (`helper.py` `request_location_hint_cookie`): an on-device client
        with no `target_location_hint` asks the delivery API once, with session `ping123` and an
        empty request, which edge answers it; the cluster of the `edgeHost` becomes the client's
        hint, so new on-device visitors get tntIds of that edge. A failure is logged, not raised."""
        if self.location_hint or not self.config.server_domain:
            return self.location_hint
        try:
            response = yield from self._remote(
                LOCATION_HINT_SESSION, {"context": {"channel": "web"}}
            )
        except DeliveryError as error:
            self.config.logger.error("cible.sdk: the location hint request failed: %s", error)
            return None
        hint = cluster_from_edge_host(response.get("edgeHost"))
        if hint:
            self.location_hint = hint
        return hint

    # -- send_notifications ---------------------------------------------------------------------

    def notifications(self, call: Call) -> Flow[dict[str, Any]]:
        now = self.config.clock()
        cookies = parse_target_cookie(call.target_cookie, now)
        session_id = cookies.get(SESSION_ID_COOKIE) or call.session_id or _random_id()
        device_id = cookies.get(DEVICE_ID_COOKIE)
        cluster = (
            cluster_from_device_id(device_id) or call.target_location_hint or self.location_hint
        )
        request = self._prepared(call, device_id)
        response = yield from self._remote(session_id, request)
        cluster = cluster or cluster_from_edge_host(response.get("edgeHost"))
        result = _result(response, {"decisioning_method": "server-side"}, session_id, cluster, now)
        result["request"] = request
        return result


def _has_visitor(ids: Mapping[str, Any]) -> bool:
    return bool(ids.get("tntId") or ids.get("marketingCloudVisitorId") or ids.get("thirdPartyId"))


def _tnt_id(result: Mapping[str, Any]) -> str | None:
    ids = result.get("response", {}).get("id") or {}
    tnt = ids.get("tntId")
    return tnt if isinstance(tnt, str) else None


def _defaults_response(request: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery response giving each requested mbox its default content (or no option)."""
    response: dict[str, Any] = {"status": 200, "id": dict(request.get("id") or {})}
    for mode in _MODES:
        block = request.get(mode)
        if not isinstance(block, Mapping):
            continue
        entries = []
        for mbox in block.get("mboxes") or []:
            if not isinstance(mbox, Mapping):
                continue
            entry: dict[str, Any] = {"index": mbox.get("index"), "name": mbox.get("name")}
            if mbox.get("name") in defaults:
                entry["options"] = [_default_option(defaults[mbox["name"]])]
            entries.append(entry)
        response[mode] = {"mboxes": entries} if entries else {}
    return response


def _default_option(content: Any) -> dict[str, Any]:
    if isinstance(content, Mapping) and "type" in content and "content" in content:
        return dict(content)
    kind = "json" if isinstance(content, Mapping | list) else "html"
    return {"type": kind, "content": content}


def _result(
    response: dict[str, Any],
    meta: dict[str, Any],
    session_id: str,
    cluster: str | None,
    now: float,
) -> dict[str, Any]:
    """Adobe's `TargetDeliveryResponse` keys (`helper.py` `process_response`), no empty ones."""
    tnt = (response.get("id") or {}).get("tntId")
    result: dict[str, Any] = {
        "target_cookie": target_cookie(session_id, tnt if isinstance(tnt, str) else None, now),
    }
    hint = location_hint_cookie(cluster)
    if hint:
        result["target_location_hint_cookie"] = hint
    tokens: list[Any] = []
    analytics: list[Any] = []
    traces: list[Any] = []
    for item in _decided_items(response):
        if item.get("analytics"):
            analytics.append(item["analytics"])
        if item.get("trace"):
            traces.append(item["trace"])
        for option in item.get("options") or ():
            if type(option) is dict and option.get("responseTokens"):
                tokens.append(option["responseTokens"])
    if analytics:
        result["analytics_details"] = analytics
    if traces:
        result["trace"] = traces
    if tokens:
        result["response_tokens"] = tokens
    result["meta"] = meta
    result["response"] = response
    return result


def _decided_items(response: dict[str, Any]) -> list[dict[str, Any]]:
    # Responses are parsed JSON or the engine's output: plain dicts (an ABC check costs more).
    items: list[dict[str, Any]] = []
    for mode in _MODES:
        block = response.get(mode)
        if type(block) is not dict:
            continue
        page_load = block.get("pageLoad")
        if type(page_load) is dict:
            items.append(page_load)
        for key in ("mboxes", "views"):
            entries = block.get(key)
            if entries:
                items.extend(item for item in entries if type(item) is dict)
    return items


def _remote_subset(
    request: Mapping[str, Any], loaded: Loaded, mboxes: list[str], views: list[str]
) -> dict[str, Any]:
    """The part of `request` the artifact cannot decide, for one delivery call."""
    names, view_names = set(mboxes), set(views)
    subset = {k: v for k, v in request.items() if k not in _MODES}
    for mode in _MODES:
        block = request.get(mode)
        if not isinstance(block, Mapping):
            continue
        part: dict[str, Any] = {}
        remote = [
            m
            for m in block.get("mboxes") or ()
            if isinstance(m, Mapping) and m.get("name") in names
        ]
        if remote:
            part["mboxes"] = remote
        requested_views = block.get("views") or []
        if view_names and requested_views:
            part["views"] = [
                v
                for v in requested_views
                if isinstance(v, Mapping) and (not v.get("name") or v.get("name") in view_names)
            ]
        if "pageLoad" in block and loaded.artifact.global_mbox in names:
            part["pageLoad"] = block["pageLoad"]
        if part:
            subset[mode] = part
    return subset


def _merge(
    local: dict[str, Any],
    remote: Mapping[str, Any],
    mboxes: set[str],
    views: set[str],
    loaded: Loaded,
) -> None:
    """Replace in `local` what the delivery API decided in `remote`."""
    for key in ("id", "edgeHost"):
        if key in remote:
            local[key] = remote[key]
    for mode in _MODES:
        answer = remote.get(mode)
        if not isinstance(answer, Mapping):
            continue
        block = local.setdefault(mode, {})
        remote_mboxes = {(m.get("index"), m.get("name")): m for m in answer.get("mboxes") or ()}
        if remote_mboxes:
            merged = []
            for entry in block.get("mboxes") or ():
                if entry.get("name") in mboxes:
                    merged.append(remote_mboxes.pop((entry.get("index"), entry.get("name")), entry))
                else:
                    merged.append(entry)
            merged.extend(remote_mboxes.values())
            block["mboxes"] = merged
        if answer.get("views"):
            kept = [v for v in block.get("views") or () if v.get("name") not in views]
            block["views"] = kept + list(answer["views"])
        if "pageLoad" in answer and loaded.artifact.global_mbox in mboxes:
            block["pageLoad"] = answer["pageLoad"]
        if "metrics" in answer:
            block["metrics"] = answer["metrics"]
    local["status"] = remote.get("status", 200)


_CALL_FIELDS = (
    "visitor_cookie",
    "target_cookie",
    "target_location_hint",
    "consumer_id",
    "customer_ids",
    "session_id",
    "decisioning_method",
    "defaults",
    "callback",
    "err_callback",
)


def make_call(request: Any, arguments: Mapping[str, Any]) -> Call:
    """A `Call` from keyword arguments, or from Adobe's single options dict
    (`client.get_offers({"request": ..., "session_id": ...})`), which a delivery request never
    resembles: it has no `request` key."""
    if isinstance(request, Mapping) and "request" in request:
        options = dict(request)
        unknown = set(options) - {"request", *_CALL_FIELDS}
        if unknown:
            raise TypeError(f"unknown get_offers option(s): {', '.join(sorted(unknown))}")
        request = options.pop("request")
        arguments = options
    arguments = {k: arguments[k] for k in _CALL_FIELDS if k in arguments}
    for name in ("callback", "err_callback"):
        # target_python_sdk/validators.py: "callback" must be callable (INVALID_CALLBACK).
        if arguments.get(name) is not None and not callable(arguments[name]):
            raise TypeError(f"{name} must be callable")
    method = arguments.get("decisioning_method")
    if method is not None and method not in ("server-side", "on-device", "hybrid"):
        raise ValueError("decisioning_method must be server-side, on-device or hybrid")
    return Call(as_request(request), **{k: v for k, v in arguments.items() if v is not None})

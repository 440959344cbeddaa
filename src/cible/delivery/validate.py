"""Validation of a delivery request: Adobe's constraints, first problem first, field named.

Adobe's Delivery API answers a malformed request with ``{"status": 400, "message": ...}``; the
message here always starts with the JSON path of the offending field, e.g.
``execute.mboxes[3].name: must not be blank``. Only what Cible reads (or Adobe documents as a
limit) is checked; unknown keys are ignored, as Adobe's generated models do. The limits are
Adobe's (reference §1 and §5) and listed in docs/delivery.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_MBOXES", "MAX_NOTIFICATIONS", "InvalidRequest", "check_request", "check_session_id"]

MAX_MBOXES = 50  # Adobe: "size must be between 0 and 50" for execute/prefetch mboxes
MAX_VIEWS = 50
MAX_NOTIFICATIONS = 100  # Adobe recommends at most 50; Cible refuses more than 100
MAX_PARAMETERS = 100  # Adobe limits page: 100 mbox parameters on the Delivery API
MAX_PROFILE_PARAMETERS = 50
MAX_PARAMETER_NAME = 128
MAX_PARAMETER_VALUE = 5000
MAX_PROFILE_VALUE = 256  # in-mbox profile attribute values (at.js 2.x errors above 256)
MAX_TOKENS = 50
RESERVED_PARAMETERS = frozenset({"orderId", "orderTotal", "productPurchasedIds"})
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last datetime Python has
AUTH_STATES = frozenset({"unknown", "authenticated", "logged_out"})


class InvalidRequest(ValueError):
    """A request Adobe would refuse with 400; ``str(error)`` is the message."""


def _fail(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {message}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"must be an object, not {_kind(value)}")
    return value


def _optional_object(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = parent.get(key)
    if value is None:
        return None
    return _object(value, f"{path}.{key}" if path else key)


def _string(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    *,
    max_len: int | None = None,
    required: bool = False,
    not_blank: bool = False,
    choices: frozenset[str] | None = None,
) -> str | None:
    where = f"{path}.{key}" if path else key
    value = parent.get(key)
    if value is None:
        if required:
            raise _fail(where, "is required")
        return None
    if not isinstance(value, str):
        raise _fail(where, f"must be a string, not {_kind(value)}")
    if not_blank and not value.strip():
        raise _fail(where, "must not be blank")
    if max_len is not None and len(value) > max_len:
        raise _fail(where, f"size must be between 0 and {max_len}")
    if choices is not None and value not in choices:
        raise _fail(where, f"must be one of {', '.join(sorted(choices))}")
    return value


def _number(parent: Mapping[str, Any], key: str, path: str, *, integer: bool = False) -> None:
    value = parent.get(key)
    if value is None:
        return
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok:
        raise _fail(f"{path}.{key}", f"must be {'an integer' if integer else 'a number'}")


def _boolean(parent: Mapping[str, Any], key: str, path: str) -> None:
    value = parent.get(key)
    if value is not None and not isinstance(value, bool):
        raise _fail(f"{path}.{key}", "must be a boolean")


def _array(value: Any, path: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, f"must be an array, not {_kind(value)}")
    if len(value) > max_items:
        raise _fail(path, f"size must be between 0 and {max_items}")
    return value


def check_session_id(session_id: str | None) -> str:
    """Adobe: 1-128 printable characters, no space, ``?`` or ``/``."""
    if session_id is None or session_id == "":
        raise InvalidRequest("sessionId: is required")
    if len(session_id) > 128:
        raise InvalidRequest("sessionId: size must be between 1 and 128")
    if any(c in " ?/" or not c.isprintable() for c in session_id):
        raise InvalidRequest("sessionId: must be printable characters without space, ? or /")
    return session_id


def check_request(request: Any) -> None:
    """Raise ``InvalidRequest`` naming the first field that breaks Adobe's constraints."""
    body = _object(request, "request")
    _string(body, "requestId", "", max_len=128)
    _string(body, "impressionId", "", max_len=128)
    _check_ids(body)
    _number(body, "environmentId", "request", integer=True)
    prop = _optional_object(body, "property", "")
    if prop is not None:
        _string(prop, "token", "property", required=True, max_len=128)
    trace = _optional_object(body, "trace", "")
    if trace is not None:
        _string(trace, "authorizationToken", "trace", required=True)
    _check_qa_mode(body)
    context = body.get("context")
    if context is None:
        raise _fail("context", "is required")
    _check_context(_object(context, "context"))
    _check_experience_cloud(body)
    for mode in ("execute", "prefetch"):
        block = _optional_object(body, mode, "")
        if block is not None:
            _check_block(block, mode)
    notifications = body.get("notifications")
    if notifications is not None:
        items = _array(notifications, "notifications", MAX_NOTIFICATIONS)
        for i, item in enumerate(items):
            _check_notification(_object(item, f"notifications[{i}]"), f"notifications[{i}]")


def _check_qa_mode(body: Mapping[str, Any]) -> None:
    """Adobe's ``QAMode``; the token itself is verified by ``cible.delivery.qa``."""
    qa = _optional_object(body, "qaMode", "")
    if qa is None:
        return
    _string(qa, "token", "qaMode", required=True, not_blank=True, max_len=4096)
    _boolean(qa, "listedActivitiesOnly", "qaMode")
    for key in ("evaluateAsTrueAudienceIds", "evaluateAsFalseAudienceIds"):
        ids = qa.get(key)
        if ids is not None:
            for i, value in enumerate(_array(ids, f"qaMode.{key}", 1000)):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _fail(f"qaMode.{key}[{i}]", "must be an integer")
    indexes = qa.get("previewIndexes")
    if indexes is not None:
        items = _array(indexes, "qaMode.previewIndexes", 50)
        if not items:
            raise _fail("qaMode.previewIndexes", "must not be empty")
        for i, item in enumerate(items):
            where = f"qaMode.previewIndexes[{i}]"
            entry = _object(item, where)
            for key in ("activityIndex", "experienceIndex"):
                value = entry.get(key)
                if key == "activityIndex" and value is None:
                    raise _fail(f"{where}.{key}", "is required")
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 1
                ):
                    raise _fail(f"{where}.{key}", "must be an integer >= 1")


def _check_ids(body: Mapping[str, Any]) -> None:
    ids = _optional_object(body, "id", "")
    if ids is None:
        return
    tnt = _string(ids, "tntId", "id", max_len=128)
    if tnt is not None and tnt.count(".") > 1:
        raise _fail("id.tntId", "must not contain '.' except before the location hint")
    # The part before the location hint names the profile: ".alice" and ".bob" would share one.
    if tnt is not None and not tnt.partition(".")[0].strip():
        raise _fail("id.tntId", "must start with a visitor id (before any '.' location hint)")
    _string(ids, "thirdPartyId", "id", max_len=256)
    _string(ids, "marketingCloudVisitorId", "id", max_len=128)
    customer_ids = ids.get("customerIds")
    if customer_ids is not None:
        for i, entry in enumerate(_array(customer_ids, "id.customerIds", 50)):
            where = f"id.customerIds[{i}]"
            item = _object(entry, where)
            _string(item, "id", where, required=True, max_len=128)
            _string(item, "integrationCode", where, required=True, max_len=50)
            _string(item, "authenticatedState", where, required=True, choices=AUTH_STATES)


def _check_context(context: Mapping[str, Any]) -> None:
    _string(context, "channel", "context", required=True, choices=frozenset({"web", "mobile"}))
    _string(context, "userAgent", "context", max_len=4096)
    _boolean(context, "beacon", "context")
    _number(context, "timeOffsetInMinutes", "context")
    address = _optional_object(context, "address", "context")
    if address is not None:
        _string(address, "url", "context.address", max_len=4096)
        _string(address, "referringUrl", "context.address", max_len=4096)
    for key in ("screen", "window"):
        part = _optional_object(context, key, "context")
        if part is not None:
            for field in ("width", "height", "colorDepth", "pixelRatio"):
                _number(part, field, f"context.{key}")
    browser = _optional_object(context, "browser", "context")
    if browser is not None:
        for field in ("host", "language", "webGLRenderer"):
            _string(browser, field, "context.browser", max_len=4096)
    geo = _optional_object(context, "geo", "context")
    if geo is not None:
        _string(geo, "ipAddress", "context.geo", max_len=64)
        _number(geo, "latitude", "context.geo")
        _number(geo, "longitude", "context.geo")
        _string(geo, "countryCode", "context.geo", max_len=2)
        _string(geo, "stateCode", "context.geo", max_len=3)
        _string(geo, "city", "context.geo", max_len=50)
        _string(geo, "zip", "context.geo", max_len=12)
    for key in ("mobilePlatform", "application", "clientHints"):
        _optional_object(context, key, "context")


def _check_experience_cloud(body: Mapping[str, Any]) -> None:
    cloud = _optional_object(body, "experienceCloud", "")
    if cloud is None:
        return
    analytics = _optional_object(cloud, "analytics", "experienceCloud")
    if analytics is not None:
        where = "experienceCloud.analytics"
        logging = frozenset({"server_side", "client_side"})
        _string(analytics, "logging", where, choices=logging)
        _string(analytics, "supplementalDataId", where, max_len=33)
        _string(analytics, "trackingServer", where, max_len=1024)
        _string(analytics, "trackingServerSecure", where, max_len=1024)
    audience_manager = _optional_object(cloud, "audienceManager", "experienceCloud")
    if audience_manager is not None:
        _number(audience_manager, "locationHint", "experienceCloud.audienceManager", integer=True)
        _string(audience_manager, "blob", "experienceCloud.audienceManager", max_len=1024)


def _check_block(block: Mapping[str, Any], mode: str) -> None:
    page_load = _optional_object(block, "pageLoad", mode)
    if page_load is not None:
        _check_details(page_load, f"{mode}.pageLoad")
    mboxes = block.get("mboxes")
    if mboxes is not None:
        seen: set[int] = set()
        for i, entry in enumerate(_array(mboxes, f"{mode}.mboxes", MAX_MBOXES)):
            where = f"{mode}.mboxes[{i}]"
            mbox = _object(entry, where)
            _string(mbox, "name", where, required=True, not_blank=True, max_len=250)
            index = mbox.get("index")
            if index is not None:
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    raise _fail(f"{where}.index", "must be an integer >= 0")
                if index in seen:
                    raise _fail(f"{where}.index", "must be unique in the list")
                seen.add(index)
            _check_details(mbox, where)
    views = block.get("views")
    if views is not None:
        if mode == "execute":
            raise _fail("execute.views", "views can only be prefetched")
        for i, entry in enumerate(_array(views, f"{mode}.views", MAX_VIEWS)):
            where = f"{mode}.views[{i}]"
            view = _object(entry, where)
            _string(view, "name", where, max_len=128)
            _string(view, "key", where, max_len=512)
            _check_details(view, where)


def _check_map(
    parent: Mapping[str, Any], key: str, path: str, max_items: int, max_value: int
) -> None:
    value = parent.get(key)
    if value is None:
        return
    where = f"{path}.{key}"
    entries = _object(value, where)
    if len(entries) > max_items:
        raise _fail(where, f"size must be between 0 and {max_items}")
    for name, item in entries.items():
        if not name.strip():
            raise _fail(where, "parameter names must not be blank")
        if len(name) > MAX_PARAMETER_NAME:
            raise _fail(f"{where}.{name[:40]}…", f"name longer than {MAX_PARAMETER_NAME}")
        if not isinstance(item, str):
            raise _fail(f"{where}.{name}", f"must be a string, not {_kind(item)}")
        if len(item) > max_value:
            raise _fail(f"{where}.{name}", f"size must be between 0 and {max_value}")
        if key == "parameters" and name in RESERVED_PARAMETERS:
            raise _fail(f"{where}.{name}", "is reserved; send it in 'order'")
        if key == "profileParameters" and name.startswith("profile."):
            raise _fail(f"{where}.{name}", "must not start with 'profile.'")


def _check_details(detail: Mapping[str, Any], path: str) -> None:
    _check_map(detail, "parameters", path, MAX_PARAMETERS, MAX_PARAMETER_VALUE)
    _check_map(detail, "profileParameters", path, MAX_PROFILE_PARAMETERS, MAX_PROFILE_VALUE)
    address = _optional_object(detail, "address", path)
    if address is not None:
        _string(address, "url", f"{path}.address", max_len=4096)
        _string(address, "referringUrl", f"{path}.address", max_len=4096)
    order = _optional_object(detail, "order", path)
    if order is not None:
        where = f"{path}.order"
        _string(order, "id", where, max_len=250)
        _number(order, "total", where)
        total = order.get("total")
        if isinstance(total, int | float) and total < 0:
            raise _fail(f"{where}.total", "must be >= 0")
        products = order.get("purchasedProductIds")
        if products is not None:
            items = _array(products, f"{where}.purchasedProductIds", 250)
            for i, product in enumerate(items):
                if not isinstance(product, str) or not product.strip() or len(product) > 50:
                    raise _fail(f"{where}.purchasedProductIds[{i}]", "a non-blank string <= 50")
            if len(",".join(items)) > 250:
                raise _fail(f"{where}.purchasedProductIds", "joined size must be <= 250")
        _string(order, "time", where, max_len=64)
    product = _optional_object(detail, "product", path)
    if product is not None:
        _string(product, "id", f"{path}.product", max_len=128, not_blank=True)
        _string(product, "categoryId", f"{path}.product", max_len=128, not_blank=True)


def _check_notification(item: Mapping[str, Any], path: str) -> None:
    _string(item, "id", path, required=True, not_blank=True, max_len=200)
    _string(item, "type", path, required=True, choices=frozenset({"display", "click"}))
    _string(item, "impressionId", path, max_len=128)
    timestamp = item.get("timestamp")
    if timestamp is None:
        raise _fail(f"{path}.timestamp", "is required")
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, int | float)
        or not 0 <= timestamp <= MAX_TIMESTAMP_MS
    ):
        raise _fail(f"{path}.timestamp", "must be milliseconds since the epoch")
    tokens = item.get("tokens")
    if tokens is not None:
        for i, token in enumerate(_array(tokens, f"{path}.tokens", MAX_TOKENS)):
            if not isinstance(token, str) or not token or len(token) > 1024:
                raise _fail(f"{path}.tokens[{i}]", "must be a non-empty string")
    mbox = _optional_object(item, "mbox", path)
    view = _optional_object(item, "view", path)
    if mbox is not None and view is not None:
        raise _fail(path, "'mbox' and 'view' are mutually exclusive")
    if mbox is not None:
        name = _string(mbox, "name", f"{path}.mbox", max_len=250, not_blank=True)
        if name is not None and name.endswith("-clicked"):
            raise _fail(f"{path}.mbox.name", "must not end with '-clicked'")
    if view is not None:
        _string(view, "name", f"{path}.view", max_len=128)
        _string(view, "key", f"{path}.view", max_len=512)
    _check_details(item, path)

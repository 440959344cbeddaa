"""The delivery API call: `POST {scheme}://{server_domain}/rest/v1/delivery?imsOrgId=&sessionId=`.

Query parameters as Adobe's SDKs send them (`delivery_api_client/api/delivery_api.py`:
`imsOrgId`, `sessionId`, optional `version`), plus `client`, which at.js sends and which lets a
Cible server resolve the tenant without an organization id lookup. Headers as
`target_python_sdk/helper.py` `create_headers` (the SDK name is Cible's).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from cible.sdk._config import Config

__all__ = [
    "SDK_NAME",
    "SDK_VERSION",
    "DeliveryError",
    "delivery_request",
    "notifications_request",
    "read_delivery",
]

SDK_NAME = "CiblePython"
SDK_VERSION = "0.1.0"
BATCH_TIMEOUT = 30.0  # seconds a batch notification request may take, at least


class DeliveryError(Exception):
    """The delivery API could not be reached or answered with an error."""


def delivery_request(config: Config, session_id: str, body: Mapping[str, Any]) -> httpx.Request:
    params = {"imsOrgId": config.organization_id, "sessionId": session_id, "client": config.client}
    if config.version:
        params["version"] = config.version
    content = json.dumps(body, separators=(",", ":")).encode()
    return _post(config, config.delivery_url, params, content)


def notifications_request(config: Config, content: bytes) -> httpx.Request:
    """Cible's batch endpoint, `POST /rest/v1/notifications?imsOrgId=&client=`; `content` is
    the encoded `{"notifications": [...]}` body (docs/delivery.md)."""
    params = {"imsOrgId": config.organization_id, "client": config.client}
    # Background work, unlike a decision a page waits for: a thousand notifications may take a
    # loaded server longer than the `timeout` budget of a delivery call (docs/sdk.md).
    timeout = max(config.timeout, BATCH_TIMEOUT)
    return _post(config, config.notifications_url, params, content, timeout)


def _post(
    config: Config, url: str, params: dict[str, str], content: bytes, timeout: float | None = None
) -> httpx.Request:
    return httpx.Request(
        "POST",
        url,
        params=params,
        content=content,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-EXC-SDK": SDK_NAME,
            "X-EXC-SDK-Version": SDK_VERSION,
            "X-Request-Id": str(uuid.uuid4()),
        },
        extensions={"timeout": httpx.Timeout(timeout or config.timeout).as_dict()},
    )


def read_delivery(response: httpx.Response) -> dict[str, Any]:
    """The delivery response body; raises `DeliveryError` on an error status or a bad body."""
    if response.status_code == 204:
        return {"status": 204}
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"delivery API answered HTTP {response.status_code}: {_text(response)}")
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise DeliveryError(f"delivery API answered invalid JSON: {error}") from None
    if not isinstance(body, dict):
        raise DeliveryError("delivery API answered JSON that is not an object")
    return body


def _text(response: httpx.Response) -> str:
    return response.content[:300].decode("utf-8", "replace")

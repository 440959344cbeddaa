"""Cible's Python SDK: Adobe Target's `TargetClient`, deciding server-side, on-device or both.

Same options, methods and result shapes as Adobe's `target-python-sdk` (switching is a change of
import and configuration, see docs/sdk-migration.md), plus a session cache, background
notification batching, pluggable transports and fork safety (docs/sdk.md).

    >>> from cible.sdk import TargetClient
    >>> client = TargetClient.create({  # doctest: +SKIP
    ...     "client": "acme", "organization_id": "ACME@AdobeOrg",
    ...     "server_domain": "cible.example:8080", "decisioning_method": "on-device"})

It imports only `cible.engine`, the standard library and httpx (tests/sdk/test_imports.py).
"""

from cible.sdk._attributes import AttributeNotFound, Attributes
from cible.sdk._config import Config
from cible.sdk._delivery import DeliveryError
from cible.sdk._transports import (
    ASGITransport,
    AsyncTransport,
    HTTPTransport,
    MockTransport,
    Transport,
)
from cible.sdk.async_client import AsyncTargetClient
from cible.sdk.client import TargetClient

__all__ = [
    "ASGITransport",
    "AsyncTargetClient",
    "AsyncTransport",
    "AttributeNotFound",
    "Attributes",
    "Config",
    "DeliveryError",
    "HTTPTransport",
    "MockTransport",
    "TargetClient",
    "Transport",
]

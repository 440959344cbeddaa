"""Which browser origins may call a tenant's delivery and notification endpoints.

Adobe's edge answers every page origin (``Access-Control-Allow-Origin: <origin>`` with
credentials), and so does Cible by default (``routes.with_cors``). A tenant that knows where its
pages live can list their origins (``cible tenants origins``); a call whose ``Origin`` header
names another one is then refused with ``403`` before anything is decided or recorded, and
without CORS headers, so the browser shows the page nothing either. A refusal, not only a missing
header: a page can send a "simple" cross-origin POST (``text/plain``) without a preflight, and the
server would otherwise record what it sent. Calls without ``Origin`` (servers, SDKs) are never
concerned (docs/security.md, "Delivery from browsers").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from cible.delivery.routes import TenantDirectory

__all__ = ["refusal", "refused"]

STATUS = 403


async def refused(
    directory: TenantDirectory, query: Iterable[tuple[str, str]], origin: str | None
) -> bool:
    """Whether the tenant named by ``client``/``imsOrgId`` lists origins and ``origin`` is not
    one. Unknown tenants and calls without an origin are left to the endpoint."""
    if not origin:
        return False
    params = dict(query)
    client, org_id = params.get("client"), params.get("imsOrgId")
    if not client and not org_id:
        return False
    known, tenant = directory.cached(client, org_id)
    if not known:
        tenant = await run_in_threadpool(directory.find, client, org_id)
    if tenant is None or tenant.origins is None:
        return False
    return origin.lower() not in tenant.origins


def refusal(origin: str) -> bytes:
    """The delivery API's error body for a refused origin."""
    message = f"origin: {origin} is not among the origins this client allows"
    return orjson.dumps({"status": STATUS, "message": message})

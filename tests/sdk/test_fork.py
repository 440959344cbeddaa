"""Fork safety: a client created before a pre-fork server forks keeps working in the worker —
new connection pools, a restarted artifact poller and notification sender — and in the parent."""

from __future__ import annotations

import os
import sys
import traceback

import pytest

from cible.sdk import HTTPTransport, TargetClient
from tests.sdk.helpers import CLIENT, ORG, contents, offers_request, parity_artifact, stub_server

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def visit(client: TargetClient, visitor: str) -> dict[str, list[object]]:
    request = offers_request("hero", "promo")
    request["id"] = {"tntId": visitor}
    return contents(client.get_offers(request))


def test_client_survives_fork() -> None:
    with stub_server(parity_artifact()) as server:
        client = TargetClient.create(
            {
                "client": CLIENT,
                "organization_id": ORG,
                "server_domain": f"127.0.0.1:{server.port}",
                "secure": False,
                "decisioning_method": "on-device",
                "polling_interval": 0.05,
                "notification_flush_interval": 3600,
                "transport": HTTPTransport(),
            }
        )
        expected = visit(client, "child-visitor")
        client.flush_notifications()  # the parent's pool now holds an open connection
        parent_poller = client._poller
        assert parent_poller is not None and parent_poller.is_alive()

        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                sent_before = client.stats["notifications"]["sent"]  # counters carry over
                assert visit(client, "child-visitor") == expected
                assert client._poller is not None and client._poller is not parent_poller
                assert client._poller.is_alive()
                assert client.refresh_artifact()
                client.close()  # flushes the worker's notifications over its own connections
                assert client.stats["notifications"]["sent"] == sent_before + 2
                status = 0
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(status)

        _, wait_status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(wait_status) == 0
        assert visit(client, "parent-visitor")  # the parent is unaffected
        client.close()
        notified = [body["id"]["tntId"] for body in server.bodies if body.get("notifications")]
        assert notified.count("child-visitor") == 2  # once from the parent, once from the worker
        assert "parent-visitor" in notified

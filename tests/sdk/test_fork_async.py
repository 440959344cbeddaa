"""Fork safety of `AsyncTargetClient`: a client created and used on a pre-fork server's loop
keeps working in a forked worker that runs its own loop, with its own sender and poller tasks
and its own connection pool (nothing of the parent's loop, tasks or sockets is used there), and
keeps working in the parent too."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import traceback
from typing import Any

import pytest

from cible.sdk import AsyncTargetClient, HTTPTransport
from tests.sdk.helpers import CLIENT, ORG, contents, offers_request, parity_artifact, stub_server

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


async def visit(client: AsyncTargetClient, visitor: str) -> dict[str, list[object]]:
    request = offers_request("hero", "promo")
    request["id"] = {"tntId": visitor}
    return contents(await client.get_offers(request))


async def in_the_worker(client: AsyncTargetClient, parent: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    sent_before = client.stats["notifications"]["sent"]  # counters carry over
    assert await visit(client, "child-visitor") == parent["expected"]
    # The parent's queued notifications are the parent's to send: only this visit's are here.
    assert client.stats["notifications"]["pending"] == 2
    sender, poller = client._sender.task, client._poller
    assert sender is not None and sender is not parent["sender"] and sender.get_loop() is loop
    assert poller is not None and poller is not parent["poller"] and poller.get_loop() is loop
    assert await client.refresh_artifact()
    transport = client.transport
    assert transport._async_client is not None
    assert transport._async_client is not parent["pool"]
    await client.aclose()  # flushes the worker's notifications over its own connections
    assert client.stats["notifications"]["sent"] == sent_before + 2


def test_async_client_survives_fork() -> None:
    with stub_server(parity_artifact()) as server:

        async def main() -> None:
            client = await AsyncTargetClient.create(
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
            expected = await visit(client, "child-visitor")
            await client.flush_notifications()  # the parent's pool now holds a connection
            parent = {
                "expected": expected,
                "sender": client._sender.task,
                "poller": client._poller,
                "pool": client.transport._async_client,
            }
            assert parent["sender"] is not None and parent["pool"] is not None
            await visit(client, "queued-in-parent")  # queued when the fork happens

            pid = os.fork()  # from inside the parent's running loop, as a pre-fork server may
            if pid == 0:
                status = 1
                try:
                    asyncio.run(in_the_worker(client, parent))
                    status = 0
                except BaseException:
                    traceback.print_exc()
                    sys.stderr.flush()
                finally:
                    os._exit(status)

            _, wait_status = await asyncio.get_running_loop().run_in_executor(
                None, os.waitpid, pid, 0
            )
            assert os.waitstatus_to_exitcode(wait_status) == 0
            assert client._sender.task is parent["sender"]  # the parent kept its own tasks
            assert await visit(client, "parent-visitor") == await visit(client, "parent-visitor")
            await client.aclose()

        asyncio.run(main())
        notified = [body["id"]["tntId"] for body in server.bodies if body.get("notifications")]
        assert notified.count("child-visitor") == 2  # once from the parent, once from the worker
        assert notified.count("queued-in-parent") == 1  # sent by the parent only
        assert "parent-visitor" in notified


# The first loop closes with a pooled connection open: it can no longer be closed politely from
# another loop, and its socket is reclaimed by the garbage collector.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_client_moves_to_a_new_loop_when_its_own_has_closed() -> None:
    with stub_server(parity_artifact()) as server:
        settings = {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": f"127.0.0.1:{server.port}",
            "secure": False,
            "decisioning_method": "on-device",
            "polling_interval": 0,
            "notification_flush_interval": 3600,
            "transport": HTTPTransport(),
        }

        async def create() -> tuple[AsyncTargetClient, Any]:
            client = await AsyncTargetClient.create(settings)
            await visit(client, "first-loop")
            return client, client._sender.task

        client, first_sender = asyncio.run(create())  # that loop is closed now

        async def use() -> None:
            assert await visit(client, "second-loop")
            assert client._sender.task is not first_sender
            await client.aclose()

        asyncio.run(use())
        gc.collect()  # within the test, where the ResourceWarning below is expected
        notified = [body["id"]["tntId"] for body in server.bodies if body.get("notifications")]
        assert "second-loop" in notified

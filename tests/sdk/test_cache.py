"""The session cache: hits within a session, and every way an entry stops being used."""

from __future__ import annotations

from typing import Any

from cible.sdk import MockTransport, TargetClient
from tests.sdk.helpers import (
    CLIENT,
    ORG,
    EngineServer,
    artifact,
    contents,
    offers_request,
    profile_artifact,
    split_rules,
)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(server: EngineServer, method: str = "on-device", **extra: Any) -> TargetClient:
    return TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "decisioning_method": method,
            "polling_interval": 0,
            "notification_flush_interval": 3600,
            "transport": MockTransport(server),
            **extra,
        }
    )


def hero(tier: str | None = None, unused: str = "x", **parameters: str) -> dict[str, Any]:
    request = offers_request("hero", "promo", **parameters)
    request["id"] = {"tntId": "cached-visitor"}
    if tier is not None:
        for mbox in request["execute"]["mboxes"]:
            mbox["profileParameters"] = {"tier": tier, "unused": unused}
    return request


def test_same_session_same_request_hits() -> None:
    server = EngineServer(profile_artifact())
    client = make(server)
    first = client.get_offers(hero("gold"), session_id="s")
    second = client.get_offers(hero("gold"), session_id="s")
    assert contents(second) == contents(first)
    assert client.stats["cache"]["hits"] == 1
    other_session = client.get_offers(hero("gold"), session_id="t")
    assert contents(other_session) == contents(first)
    assert client.stats["cache"]["hits"] == 1
    # A result is a copy: mutating it does not reach the cache.
    second["response"]["execute"]["mboxes"].clear()
    assert contents(client.get_offers(hero("gold"), session_id="s")) == contents(first)
    client.close()


def test_cache_hit_still_reports_the_display() -> None:
    server = EngineServer(profile_artifact())
    client = make(server)
    client.get_offers(hero("gold"), session_id="s")
    client.get_offers(hero("gold"), session_id="s")
    client.flush_notifications()
    notifications = [n for body in server.deliveries() for n in body["notifications"]]
    assert len(notifications) == 4  # two mboxes, twice
    assert len({n["id"] for n in notifications}) == 4
    client.close()


def test_server_side_hit_makes_no_call() -> None:
    server = EngineServer(profile_artifact())
    client = make(server, "server-side")
    client.get_offers(hero("gold"), session_id="s")
    client.get_offers(hero("gold"), session_id="s")
    assert len(server.deliveries()) == 1
    client.get_offers(hero("gold", page="other"), session_id="s")  # another request: a miss
    assert len(server.deliveries()) == 2
    client.close()


def test_artifact_change_invalidates() -> None:
    server = EngineServer(profile_artifact())
    client = make(server)
    before = contents(client.get_offers(hero(), session_id="s"))
    assert before["promo"][0]["activity"] == 201
    server.set_artifact(artifact({"promo": split_rules(777, "promo", [100])}), etag='"2"')
    assert client.refresh_artifact()
    after = contents(client.get_offers(hero(), session_id="s"))
    assert after["promo"][0]["activity"] == 777
    assert client.stats["cache"]["invalidations"] == 1
    assert client.stats["artifact_generation"] == 2
    client.close()


def test_profile_parameter_used_by_a_condition_invalidates_unused_does_not() -> None:
    server = EngineServer(profile_artifact())
    client = make(server)
    gold = contents(client.get_offers(hero("gold"), session_id="s"))
    assert gold["hero"][0]["activity"] == 401
    client.get_offers(hero("gold", unused="changed"), session_id="s")
    assert client.stats["cache"]["hits"] == 1  # `unused` is read by no condition
    silver = contents(client.get_offers(hero("silver", unused="changed"), session_id="s"))
    assert silver["hero"][0]["activity"] == 402
    assert client.stats["cache"]["invalidations"] == 1
    client.close()


def test_server_side_any_profile_parameter_counts() -> None:
    server = EngineServer(profile_artifact())
    client = make(server, "server-side")
    client.get_offers(hero("gold"), session_id="s")
    client.get_offers(hero("gold", unused="changed"), session_id="s")
    assert len(server.deliveries()) == 2
    client.close()


def test_lru_eviction() -> None:
    server = EngineServer(profile_artifact())
    client = make(server, session_cache_size=2)
    for session in ("a", "b", "c"):
        client.get_offers(hero(), session_id=session)
    assert client.stats["cache"]["evictions"] == 1
    assert client.stats["cache"]["size"] == 2
    client.get_offers(hero(), session_id="b")
    client.get_offers(hero(), session_id="c")
    assert client.stats["cache"]["hits"] == 2
    client.get_offers(hero(), session_id="a")  # evicted first, as least recently used
    assert client.stats["cache"]["hits"] == 2
    client.close()


def test_session_expires_after_idle_timeout() -> None:
    server = EngineServer(profile_artifact())
    clock = Clock()
    client = make(server, "server-side", clock=clock, session_timeout=1800)
    client.get_offers(hero(), session_id="s")
    clock.now += 1700
    client.get_offers(hero(), session_id="s")  # idle 1700 s: a hit, which renews the session
    clock.now += 1700
    client.get_offers(hero(), session_id="s")
    assert len(server.deliveries()) == 1
    clock.now += 1801
    client.get_offers(hero(), session_id="s")
    assert len(server.deliveries()) == 2
    assert client.stats["cache"]["expirations"] == 1
    client.close()


def test_cache_can_be_disabled() -> None:
    server = EngineServer(profile_artifact())
    client = make(server, "server-side", session_cache_size=0)
    client.get_offers(hero(), session_id="s")
    client.get_offers(hero(), session_id="s")
    assert len(server.deliveries()) == 2
    assert client.stats["cache"]["size"] == 0
    client.close()

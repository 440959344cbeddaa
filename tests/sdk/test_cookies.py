"""The `mbox` and `mboxEdgeCluster` cookies: Adobe's format, read back by Adobe's own parser,
and a visitor kept across calls by nothing but the cookie."""

from __future__ import annotations

import httpx
from target_python_sdk.cookies import parse_cookies

from cible.sdk import MockTransport, TargetClient
from cible.sdk._cookies import (
    cluster_from_device_id,
    cluster_from_edge_host,
    marketing_cloud_visitor_id,
    parse_target_cookie,
    target_cookie,
)
from tests.sdk.helpers import CLIENT, ORG, Recorder, offers_request, parity_artifact

NOW = 1_800_000_000.0


def on_device(**options: object) -> TargetClient:
    return TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "decisioning_method": "on-device",
            "artifact_payload": parity_artifact(),
            "polling_interval": 0,
            "transport": MockTransport(Recorder()),
            **options,
        }
    )


def test_cookie_format_matches_adobe() -> None:
    cookie = target_cookie("sess ion/1", "abc.28_0", NOW)
    assert cookie["name"] == "mbox"
    assert cookie["value"] == (
        f"session#sess%20ion/1#{int(NOW) + 1860}|PC#abc.28_0#{int(NOW) + 63244800}"
    )
    assert cookie["maxAge"] == 63244800
    assert parse_target_cookie(cookie["value"], NOW) == {"session": "sess ion/1", "PC": "abc.28_0"}


def test_adobe_parses_our_cookie_and_we_parse_adobes() -> None:
    import time

    now = time.time()
    ours = target_cookie("s-1", "tnt-1", now)
    parsed = parse_cookies(ours["value"])
    assert parsed["session"]["value"] == "s-1"
    assert parsed["PC"]["value"] == "tnt-1"
    adobe_value = f"PC#tnt-2#{int(now) + 100}|session#s-2#{int(now) + 100}"
    assert parse_target_cookie(adobe_value, now) == {"PC": "tnt-2", "session": "s-2"}


def test_expired_and_malformed_parts_are_ignored() -> None:
    value = f"session#old#{int(NOW) - 1}|PC#keep#{int(NOW) + 5}|junk|x#y#notanumber"
    assert parse_target_cookie(value, NOW) == {"PC": "keep"}
    assert parse_target_cookie(None, NOW) == {}


def test_round_trip_keeps_visitor_and_session() -> None:
    with on_device() as client:
        first = client.get_offers(offers_request("hero", "promo"))
        tnt_id = first["response"]["id"]["tntId"]
        cookies = parse_target_cookie(first["target_cookie"]["value"], client.config.clock())
        assert cookies["PC"] == tnt_id
        second = client.get_offers(
            offers_request("hero", "promo"), target_cookie=first["target_cookie"]["value"]
        )
        assert second["response"]["id"]["tntId"] == tnt_id
        assert second["target_cookie"]["value"].split("|")[0].split("#")[1] == cookies["session"]
        # The same visitor, so the same experiences.
        assert second["response"]["execute"] == first["response"]["execute"]


def test_cookie_session_wins_over_argument_as_in_adobe() -> None:
    with on_device() as client:
        cookie = target_cookie("from-cookie", "tnt-9", client.config.clock())["value"]
        result = client.get_offers(offers_request("hero"), target_cookie=cookie, session_id="arg")
        assert "session#from-cookie#" in result["target_cookie"]["value"]
        assert result["request"]["id"]["tntId"] == "tnt-9"
        result = client.get_offers(offers_request("hero"), session_id="arg")
        assert "session#arg#" in result["target_cookie"]["value"]


def test_location_hint_cookie() -> None:
    assert cluster_from_device_id("abc.28_0") == "28"
    assert cluster_from_device_id("abc") is None
    assert cluster_from_device_id("abc.28") is None
    assert cluster_from_edge_host("mboxedge35.tt.omtrdc.net") == "35"
    assert cluster_from_edge_host("cible.example.com") is None
    with on_device() as client:
        cookie = target_cookie("s", "visitor.31_0", client.config.clock())["value"]
        result = client.get_offers(offers_request("hero"), target_cookie=cookie)
        assert result["target_location_hint_cookie"] == {
            "name": "mboxEdgeCluster",
            "value": "31",
            "maxAge": 1860,
        }
        new_visitor = client.get_offers(offers_request("hero"), target_location_hint="17")
        assert new_visitor["response"]["id"]["tntId"].endswith(".17_0")
        assert "target_location_hint_cookie" not in client.get_offers(offers_request("hero"))


def test_server_side_takes_tnt_id_from_server_and_edge_host_hint() -> None:
    recorder = Recorder(
        lambda request: httpx.Response(
            200,
            json={
                "status": 200,
                "id": {"tntId": "server-made"},
                "edgeHost": "mboxedge7.tt.omtrdc.net",
            },
        )
    )
    with TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "transport": MockTransport(recorder),
        }
    ) as client:
        result = client.get_offers(
            offers_request("hero"),
            visitor_cookie="MCMID%7C12345678901234567890%7CMCAAMLH-1%7C9",
            customer_ids=[
                {"id": "c1", "integrationCode": "crm", "authenticatedState": "authenticated"}
            ],
        )
    assert "PC#server-made#" in result["target_cookie"]["value"]
    assert result["target_location_hint_cookie"]["value"] == "7"
    sent = recorder.bodies()[0]
    assert sent["id"]["marketingCloudVisitorId"] == "12345678901234567890"
    assert sent["id"]["customerIds"] == [
        {"id": "c1", "integrationCode": "crm", "authenticatedState": "authenticated"}
    ]
    assert marketing_cloud_visitor_id(None) is None

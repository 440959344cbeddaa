"""Parts of a decision the spec cases cannot pin: the `segments` context, an mbox's own
referrer, the `index` of a trace entry and the response status when part of a request is remote.

The spec files are run by the delivery API and the SDK too, where segments come from the
Audience Manager side, the status is the HTTP answer's and traces are not returned; these
behaviours are the engine's own, so they are tested here, on the flat path (untraced) and the
general walk (traced) alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cible.engine import EXTRA_KEY, Artifact, decide, load_artifact

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HIT = {"type": "json", "content": {"hit": True}}


def _artifact(
    condition: dict[str, Any],
    *,
    remote_mboxes: tuple[str, ...] = (),
    views: dict[str, Any] | None = None,
    remote_views: tuple[str, ...] = (),
) -> Artifact:
    rule = {
        "ruleKey": "1",
        "activityId": 1,
        "meta": {"activity.id": 1, "experience.id": 0},
        "condition": condition,
        "consequence": {"name": "probe", "options": [HIT], "metrics": []},
    }
    return load_artifact(
        {
            "version": "1.0.0",
            "meta": {"clientCode": "acme"},
            "globalMbox": "target-global-mbox",
            "remoteMboxes": list(remote_mboxes),
            "localMboxes": ["probe"],
            "remoteViews": list(remote_views),
            "localViews": sorted(views or {}),
            "rules": {"mboxes": {"probe": [rule]}, "views": views or {}},
        }
    )


def _request(mbox: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": {"tntId": "visitor-1.28_0"},
        "context": {
            "channel": "web",
            "address": {
                "url": "https://shop.example.com/",
                "referringUrl": "https://a.example.org/",
            },
        },
        "execute": {"mboxes": [{"name": "probe", "index": 1, **(mbox or {})}]},
        **extra,
    }


def _hit(result: dict[str, Any]) -> bool:
    options = result["execute"]["mboxes"][0].get("options", [])
    return [option["content"] for option in options] == [HIT["content"]]


@pytest.mark.parametrize("trace", [False, True])
def test_segments_come_from_experience_cloud(trace: bool) -> None:
    artifact = _artifact({"in": ["1234", {"var": "segments.ids"}]})
    member = {"experienceCloud": {"audienceManager": {"segments": ["99", "1234"]}}}
    other = {"experienceCloud": {"audienceManager": {"segments": ["99"]}}}
    assert _hit(decide(artifact, _request(**member), now=NOW, trace=trace))
    assert not _hit(decide(artifact, _request(**other), now=NOW, trace=trace))
    assert not _hit(decide(artifact, _request(), now=NOW, trace=trace))


@pytest.mark.parametrize("trace", [False, True])
def test_an_mbox_address_sets_its_own_referrer(trace: bool) -> None:
    artifact = _artifact({"==": [{"var": "referring.subdomain"}, "b"]})
    own = {
        "address": {"url": "https://shop.example.com/", "referringUrl": "https://b.example.org/"}
    }
    assert _hit(decide(artifact, _request(own), now=NOW, trace=trace))
    assert not _hit(decide(artifact, _request(), now=NOW, trace=trace))


@pytest.mark.parametrize("trace", [False, True])
def test_an_mbox_address_without_a_referrer_keeps_the_request_one(trace: bool) -> None:
    artifact = _artifact({"==": [{"var": "referring.subdomain"}, "a"]})
    own = {"address": {"url": "https://other.example.com/"}}
    assert _hit(decide(artifact, _request(own), now=NOW, trace=trace))


def test_trace_entries_carry_the_mbox_index_and_page_load_none() -> None:
    artifact = _artifact({"==": [1, 1]})
    request = _request()
    request["execute"]["mboxes"].append({"name": "probe", "index": 7})
    request["execute"]["pageLoad"] = {}
    reasons = decide(artifact, request, now=NOW, trace=True)[EXTRA_KEY]["reasons"]
    entries = [r for r in reasons if r["scope"] != "request"]
    assert [(r["scope"], r.get("index")) for r in entries] == [
        ("mbox", 1),
        ("mbox", 7),
        ("pageLoad", None),
    ]
    assert "index" not in entries[2]


def test_status_is_200_when_everything_is_local() -> None:
    artifact = _artifact({"==": [1, 1]})
    assert decide(artifact, _request(), now=NOW)["status"] == 200


def test_status_is_206_when_only_an_mbox_is_remote() -> None:
    artifact = _artifact({"==": [1, 1]}, remote_mboxes=("probe",))
    result = decide(artifact, _request(), now=NOW)
    assert (result["status"], result[EXTRA_KEY]["remoteViews"]) == (206, [])
    assert result[EXTRA_KEY]["remoteMboxes"] == ["probe"]


def test_status_is_206_when_only_a_view_is_remote() -> None:
    artifact = _artifact({"==": [1, 1]}, remote_views=("cart",))
    request = _request(prefetch={"views": [{"name": "cart"}]})
    result = decide(artifact, request, now=NOW)
    assert (result["status"], result[EXTRA_KEY]["remoteMboxes"]) == (206, [])
    assert result[EXTRA_KEY]["remoteViews"] == ["cart"]

"""`compile_artifact`: allocation bands, XT order, priorities, schedules, states, remote marking,
determinism and event tokens."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from json_logic import jsonLogic

from cible.artifacts import (
    ARTIFACT_VERSION,
    DEFAULT_RESPONSE_TOKENS,
    ArtifactError,
    TargetRuleError,
    compile_artifact,
    compile_target_rule,
    decode_event_token,
    dump_artifact,
    event_token,
)
from cible.artifacts.tokens import EventTokenRef

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)

OFFERS: dict[int, dict[str, Any]] = {
    100 + i: {"id": 100 + i, "name": f"offer-{i}", "type": "content", "content": f"<p>{i}</p>"}
    for i in range(6)
}
AUDIENCES: dict[int, dict[str, Any]] = {
    1: {"id": 1, "name": "gold", "targetRule": {"mbox": "tier", "equals": ["gold"]}},
    2: {"id": 2, "name": "chrome", "targetRule": {"browser": "type", "equals": ["chrome"]}},
    3: {"id": 3, "name": "vip profile", "targetRule": {"profile": "vip", "equals": ["true"]}},
    4: {"id": 4, "name": "paris", "targetRule": {"geo": "city", "equals": ["paris"]}},
    5: {"id": 5, "name": "french pages", "targetRule": {"page": "domain", "contains": [".fr"]}},
}


CHROME = compile_target_rule(AUDIENCES[2]["targetRule"])[0]


def activity(
    activity_id: int,
    kind: str = "ab",
    *,
    shares: list[int | None] | None = None,
    audiences: list[list[int]] | None = None,
    mboxes: tuple[str, ...] = ("hero",),
    **extra: Any,
) -> dict[str, Any]:
    """An Admin API ABActivity: one option per experience, placed in every mbox."""
    count = len(shares if shares is not None else audiences or [[], []])
    shares = shares if shares is not None else ([None] * count if kind == "xt" else None)
    experiences = []
    for e in range(count):
        experience: dict[str, Any] = {
            "experienceLocalId": e,
            "name": f"Experience {chr(65 + e)}",
            "optionLocations": [
                {"locationLocalId": loc, "optionLocalId": e} for loc in range(len(mboxes))
            ],
        }
        if shares is not None and shares[e] is not None:
            experience["visitorPercentage"] = shares[e]
        elif shares is None:
            experience["visitorPercentage"] = (
                100 // count if e else 100 - 100 // count * (count - 1)
            )
        if audiences:
            experience["audienceIds"] = audiences[e]
        experiences.append(experience)
    body: dict[str, Any] = {
        "id": activity_id,
        "type": kind,
        "name": f"activity {activity_id}",
        "state": "approved",
        "priority": 5,
        "options": [
            {"optionLocalId": e, "name": f"option {e}", "offerId": 100 + e} for e in range(count)
        ],
        "locations": {
            "mboxes": [{"locationLocalId": i, "name": name} for i, name in enumerate(mboxes)]
        },
        "experiences": experiences,
    }
    body.update(extra)
    return body


def compile_(
    activities: list[dict[str, Any]],
    offers: Mapping[int, Mapping[str, Any]] = OFFERS,
    audiences: Mapping[int, Mapping[str, Any]] = AUDIENCES,
    **options: Any,
) -> dict[str, Any]:
    return compile_artifact(
        client="acme",
        environment="production",
        activities=activities,
        offers=offers,
        audiences=audiences,
        generated_at=NOW,
        **options,
    )


def rules(artifact: dict[str, Any], mbox: str = "hero") -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = artifact["rules"]["mboxes"][mbox]
    return result


def allocation(low: Any, high: Any, first: bool) -> dict[str, Any]:
    a = {"var": "allocation"}
    return {"and": [{"<=" if first else "<": [low, a]}, {">=": [high, a]}]}


def winner(rule_list: list[dict[str, Any]], context: dict[str, Any]) -> dict[str, Any] | None:
    """The first rule whose condition holds, as Adobe's SDK picks for a regular mbox."""
    for rule in rule_list:
        if jsonLogic(rule["condition"], context):
            return rule
    return None


# -- artifact envelope -----------------------------------------------------------------------


def test_envelope() -> None:
    artifact = compile_([activity(1)], organization_id="ORG@AdobeOrg")
    assert list(artifact) == [
        "version",
        "meta",
        "globalMbox",
        "geoTargetingEnabled",
        "responseTokens",
        "remoteMboxes",
        "localMboxes",
        "remoteViews",
        "localViews",
        "rules",
    ]
    assert artifact["version"] == ARTIFACT_VERSION == "1.0.0"
    assert artifact["meta"] == {
        "clientCode": "acme",
        "environment": "production",
        "organizationId": "ORG@AdobeOrg",
        "generatedAt": "2026-03-01T12:00:00.000Z",
    }
    assert artifact["globalMbox"] == "target-global-mbox"
    assert artifact["geoTargetingEnabled"] is False
    assert artifact["responseTokens"] == list(DEFAULT_RESPONSE_TOKENS)
    assert artifact["remoteMboxes"] == []
    assert artifact["localMboxes"] == ["hero", "target-global-mbox"]
    assert artifact["rules"]["views"] == {}


def test_options_override_defaults() -> None:
    artifact = compile_(
        [],
        response_tokens=["activity.id", "geo.city"],
        global_mbox="page-top",
        known_mboxes=["footer", "aside"],
        geo_targeting_enabled=True,
    )
    assert artifact["responseTokens"] == ["activity.id", "geo.city"]
    assert artifact["globalMbox"] == "page-top"
    assert artifact["localMboxes"] == ["aside", "footer", "page-top"]
    assert artifact["geoTargetingEnabled"] is True
    assert artifact["rules"] == {"mboxes": {}, "views": {}}


def test_rule_shape() -> None:
    (rule, _) = rules(compile_([activity(7)]))
    assert rule == {
        "ruleKey": "7",
        "activityId": 7,
        "meta": {
            "activity.id": 7,
            "activity.name": "activity 7",
            "activity.type": "ab",
            "experience.id": 0,
            "experience.name": "Experience A",
            "location.name": "hero",
            "location.type": "mbox",
            "location.id": 0,
            "audience.ids": [],
            "offer.id": 100,
            "offer.name": "offer-0",
            "option.id": 0,
            "option.name": "option 0",
        },
        "condition": allocation(0, 50, first=True),
        "consequence": {
            "name": "hero",
            "options": [{"type": "html", "eventToken": event_token(7, 0), "content": "<p>0</p>"}],
            "metrics": [],
        },
    }


# -- A/B allocation --------------------------------------------------------------------------


def test_ab_bands_follow_visitor_percentages() -> None:
    conditions = [r["condition"] for r in rules(compile_([activity(1, shares=[34, 33, 33])]))]
    assert conditions == [
        allocation(0, 34, first=True),
        allocation(34, 67, first=False),
        allocation(67, 100, first=False),
    ]


def test_every_allocation_value_falls_in_exactly_one_band() -> None:
    rule_list = rules(compile_([activity(1, shares=[10, 25, 0, 65])]))
    assert [r["meta"]["experience.id"] for r in rule_list] == [0, 1, 3]  # 0 % is left out
    counts = [0, 0, 0]
    for bucket in range(10000):
        value = round(bucket / 100, 2)  # Adobe's allocation: 0.00 … 99.99
        matching = [
            i for i, r in enumerate(rule_list) if jsonLogic(r["condition"], {"allocation": value})
        ]
        assert len(matching) == 1, value
        counts[matching[0]] += 1
    assert counts == [1001, 2500, 6499]  # boundaries belong to the lower band, as in Adobe's


def test_missing_percentages_split_evenly() -> None:
    conditions = [r["condition"] for r in rules(compile_([activity(1, shares=[None, None, None])]))]
    assert conditions == [
        allocation(0, 33.33, first=True),
        allocation(33.33, 66.67, first=False),
        allocation(66.67, 100, first=False),
    ]


def test_percentages_must_sum_to_100() -> None:
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1, shares=[50, 40])])
    assert caught.value.path == "activities[0].experiences"
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1, shares=[50, None])])
    assert caught.value.path == "activities[0].experiences[1].visitorPercentage"


def test_entry_percentage_scales_the_bands() -> None:
    body = activity(1, entryConstraint={"visitorPercentage": 40})
    assert [r["condition"] for r in rules(compile_([body]))] == [
        allocation(0, 20, first=True),
        allocation(20, 40, first=False),
    ]
    xt = activity(2, "xt", audiences=[[1], []], entryConstraint={"visitorPercentage": 50})
    first, second = rules(compile_([xt]))
    assert second["condition"] == allocation(0, 50, first=True)
    assert first["condition"] == {
        "and": [allocation(0, 50, first=True), {"==": ["gold", {"var": "mbox.tier_lc"}]}]
    }
    assert (
        compile_([activity(3, entryConstraint={"visitorPercentage": 0})])["rules"]["mboxes"] == {}
    )


def test_experience_audiences_and_entry_audiences_are_anded_with_the_band() -> None:
    body = activity(1, audiences=[[1], [2]])
    body["locations"]["mboxes"][0]["audienceIds"] = [5]
    first, second = rules(compile_([body]))
    assert first["condition"] == {
        "and": [
            allocation(0, 50, first=True),
            {"in": [".fr", {"var": "page.domain_lc"}]},
            {"==": ["gold", {"var": "mbox.tier_lc"}]},
        ]
    }
    assert first["meta"]["audience.ids"] == [5, 1]
    assert second["meta"]["audience.ids"] == [5, 2]
    context = {"allocation": 10.0, "mbox": {"tier_lc": "gold"}, "page": {"domain_lc": "shop.fr"}}
    assert jsonLogic(first["condition"], context)
    assert not jsonLogic(first["condition"], {**context, "page": {"domain_lc": "shop.com"}})


# -- Experience Targeting ----------------------------------------------------------------------


def test_xt_rules_keep_experience_order_without_allocation() -> None:
    rule_list = rules(compile_([activity(9, "xt", audiences=[[1], [2], []])]))
    assert [r["meta"]["activity.type"] for r in rule_list] == ["landing"] * 3
    assert [r["condition"] for r in rule_list] == [
        {"==": ["gold", {"var": "mbox.tier_lc"}]},
        CHROME,
        True,
    ]
    both = {"mbox": {"tier_lc": "gold"}, "user": {"browserType": "chrome"}}
    assert winner(rule_list, both)["meta"]["experience.id"] == 0  # type: ignore[index]
    chrome = {"mbox": {}, "user": {"browserType": "chrome"}}
    assert winner(rule_list, chrome)["meta"]["experience.id"] == 1  # type: ignore[index]
    other = {"mbox": {}, "user": {"browserType": "safari"}}
    assert winner(rule_list, other)["meta"]["experience.id"] == 2  # type: ignore[index]


# -- priorities --------------------------------------------------------------------------------


def test_higher_priority_first_and_ties_keep_input_order() -> None:
    artifact = compile_(
        [
            activity(1, priority=0),
            activity(2, priority=10),
            activity(3, priority=5),
            activity(4, priority=10),
            activity(5),  # default priority 5
        ]
    )
    order = [r["activityId"] for r in rules(artifact)]
    assert order == [2, 2, 4, 4, 3, 3, 5, 5, 1, 1]


def test_priorities_apply_per_mbox() -> None:
    artifact = compile_(
        [activity(1, priority=1, mboxes=("a", "b")), activity(2, priority=9, mboxes=("b",))]
    )
    assert [r["activityId"] for r in rules(artifact, "a")] == [1, 1]
    assert [r["activityId"] for r in rules(artifact, "b")] == [2, 2, 1, 1]


# -- schedule and state -------------------------------------------------------------------------


def test_schedule_becomes_timestamp_bounds() -> None:
    start, end = "2026-03-10T00:00:00Z", "2026-04-01T00:00:00.000+02:00"
    start_ms = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)
    end_ms = int(datetime(2026, 3, 31, 22, tzinfo=UTC).timestamp() * 1000)
    now = {"var": "current_timestamp"}
    both = rules(compile_([activity(1, "xt", audiences=[[]], startsAt=start, endsAt=end)]))
    assert both[0]["condition"] == {"<=": [start_ms, now, end_ms]}
    only_start = rules(compile_([activity(1, "xt", audiences=[[]], startsAt="2026-03-10")]))
    assert only_start[0]["condition"] == {"<=": [start_ms, now]}
    only_end = rules(compile_([activity(1, "xt", audiences=[[]], endsAt="2026-03-31T22:00Z")]))
    assert only_end[0]["condition"] == {">=": [end_ms, now]}
    banded = rules(compile_([activity(1, startsAt=start)]))
    assert banded[0]["condition"] == {"and": [allocation(0, 50, True), {"<=": [start_ms, now]}]}
    assert jsonLogic(both[0]["condition"], {"current_timestamp": start_ms + 1})
    assert not jsonLogic(both[0]["condition"], {"current_timestamp": start_ms - 1})
    assert not jsonLogic(both[0]["condition"], {"current_timestamp": end_ms + 1})


def test_ended_activities_are_left_out() -> None:
    artifact = compile_([activity(1, endsAt="2026-03-01T11:59:59Z")])
    assert artifact["rules"]["mboxes"] == {}


def test_schedule_errors() -> None:
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1, startsAt="2026-05-01", endsAt="2026-04-01")])
    assert caught.value.path == "activities[0].endsAt"
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1, startsAt="next monday")])
    assert caught.value.path == "activities[0].startsAt"


@pytest.mark.parametrize("state", ["saved", "deactivated", "deleted", "paused", None])
def test_only_approved_activities_are_compiled(state: str | None) -> None:
    artifact = compile_([activity(1, state=state), activity(2)])
    assert {r["activityId"] for r in rules(artifact)} == {2}


def test_unapproved_activities_are_not_validated() -> None:
    broken = {"id": 1, "type": "mvt", "state": "saved"}
    assert compile_([broken])["rules"]["mboxes"] == {}


# -- remote audiences ------------------------------------------------------------------------


def test_activity_with_a_remote_audience_marks_its_mboxes_remote() -> None:
    artifact = compile_(
        [
            activity(1, "xt", audiences=[[3], []], mboxes=("vip-box", "hero")),
            activity(2, mboxes=("hero",)),
        ]
    )
    assert artifact["remoteMboxes"] == ["hero", "vip-box"]
    assert "vip-box" not in artifact["localMboxes"]
    assert "hero" in artifact["localMboxes"]  # activity 2 is still decided on-device
    assert {r["activityId"] for r in rules(artifact)} == {2}
    assert "vip-box" not in artifact["rules"]["mboxes"]


def test_remote_audience_on_the_entry_location_counts_too() -> None:
    body = activity(1)
    body["locations"]["mboxes"][0]["audienceIds"] = [3]
    artifact = compile_([body])
    assert artifact["remoteMboxes"] == ["hero"]
    assert artifact["rules"]["mboxes"] == {}


def test_include_remote_keeps_remote_rules_for_a_server_side_engine() -> None:
    artifact = compile_([activity(1, "xt", audiences=[[3], []])], include_remote=True)
    assert artifact["remoteMboxes"] == ["hero"]
    first, _ = rules(artifact)
    assert first["condition"] == {"==": ["true", {"var": "profile.vip"}]}


def test_geo_targeting_flag_follows_compiled_rules() -> None:
    assert compile_([activity(1, audiences=[[4], []])])["geoTargetingEnabled"] is True
    assert compile_([activity(1, audiences=[[1], []])])["geoTargetingEnabled"] is False
    geo_remote = {
        6: {
            "id": 6,
            "name": "x",
            "targetRule": {
                "and": [{"geo": "city", "equals": ["x"]}, {"profile": "a", "exists": []}]
            },
        }
    }
    remote_only = compile_([activity(1, audiences=[[6], []])], audiences=geo_remote)
    assert remote_only["geoTargetingEnabled"] is False
    forced = compile_([activity(1, audiences=[[4], []])], geo_targeting_enabled=False)
    assert forced["geoTargetingEnabled"] is False


# -- audiences ---------------------------------------------------------------------------------


def test_combined_audience_rules() -> None:
    audiences = {
        **AUDIENCES,
        10: {
            "id": 10,
            "name": "gold or chrome",
            "audienceRule": {"restRuleOperator": "OR", "rules": [1, 2]},
        },
        11: {
            "id": 11,
            "name": "neither",
            "audienceRule": {"restRuleOperator": "NOT", "rules": [10]},
        },
    }
    first, second = rules(
        compile_([activity(1, "xt", audiences=[[10], [11]])], audiences=audiences)
    )
    gold, chrome = AUDIENCES[1], AUDIENCES[2]
    assert gold and chrome
    assert first["condition"] == {
        "or": [
            {"==": ["gold", {"var": "mbox.tier_lc"}]},
            CHROME,
        ]
    }
    assert second["condition"] == {"!": first["condition"]}


def test_audience_errors_name_the_audience_and_field() -> None:
    bad = {
        **AUDIENCES,
        7: {"id": 7, "name": "bad", "targetRule": {"and": [{"mbox": "a", "lesser": ["x"]}]}},
    }
    with pytest.raises(TargetRuleError) as caught:
        compile_([activity(1, audiences=[[7], []])], audiences=bad)
    assert caught.value.path == "audiences[7].targetRule.and[0].lesser[0]"
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1, audiences=[[1], [99]])])
    assert caught.value.path == "activities[0].experiences[1].audienceIds[0]"
    assert "99" in caught.value.message
    loop = {8: {"id": 8, "name": "loop", "audienceRule": {"restRuleOperator": "AND", "rules": [8]}}}
    with pytest.raises(ArtifactError):
        compile_([activity(1, audiences=[[8], []])], audiences=loop)


# -- offers, options, locations ------------------------------------------------------------------


def test_offer_types_map_to_option_types() -> None:
    offers = {
        100: {"id": 100, "name": "j", "type": "json", "content": '{"flag": true}'},
        101: {"id": 101, "name": "r", "type": "redirect", "content": "https://example.com/b"},
    }
    first, second = rules(compile_([activity(1)], offers=offers))
    assert first["consequence"]["options"][0] | {"eventToken": ""} == {
        "type": "json",
        "eventToken": "",
        "content": {"flag": True},
    }
    assert second["consequence"]["options"][0]["type"] == "redirect"
    assert second["consequence"]["options"][0]["content"] == "https://example.com/b"


def test_offer_errors() -> None:
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1)], offers={100: OFFERS[100]})
    assert caught.value.path == "activities[0].options[1].offerId"
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1)], offers={**OFFERS, 100: {"id": 100, "type": "json", "content": "{"}})
    assert caught.value.path == "offers[100].content"
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1)], offers={**OFFERS, 100: {"id": 100, "type": "flash", "content": ""}})
    assert caught.value.path == "offers[100].type"
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1)], offers={**OFFERS, 100: {"id": 100, "type": "recs", "designId": 2}})
    assert caught.value.path == "offers[100].criteriaId"
    body = activity(1)
    body["experiences"][0]["optionLocations"][0]["optionLocalId"] = 42
    with pytest.raises(ArtifactError) as caught:
        compile_([body])
    assert caught.value.path == "activities[0].options"


def test_experience_without_an_option_shows_default_content() -> None:
    body = activity(1)
    body["experiences"][1]["optionLocations"] = []
    _, control = rules(compile_([body]))
    assert control["consequence"]["options"] == [
        {"type": "html", "eventToken": event_token(1, 1), "content": ""}
    ]
    assert "offer.id" not in control["meta"]


def test_experience_ids_are_unique() -> None:
    body = activity(1)
    body["experiences"][1]["experienceLocalId"] = 0
    with pytest.raises(ArtifactError) as caught:
        compile_([body])
    assert caught.value.path == "activities[0].experiences[1].experienceLocalId"


def test_one_activity_on_several_mboxes() -> None:
    artifact = compile_([activity(1, mboxes=("top", "bottom"))])
    assert set(artifact["rules"]["mboxes"]) == {"top", "bottom"}
    assert [r["meta"]["location.id"] for r in rules(artifact, "bottom")] == [1, 1]
    assert [r["ruleKey"] for r in rules(artifact, "bottom")] == ["1", "1"]


def test_same_mbox_twice_in_one_activity_gets_distinct_rule_keys() -> None:
    artifact = compile_([activity(1, mboxes=("top", "top"))])
    assert [r["ruleKey"] for r in rules(artifact, "top")] == ["1-0", "1-1", "1-0", "1-1"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"id": "1"}, "activities[0].id"),
        ({"type": "mvt"}, "activities[0].type"),
        ({"name": None}, "activities[0].name"),
        ({"priority": "high"}, "activities[0].priority"),
        ({"experiences": []}, "activities[0].experiences"),
        ({"experiences": {}}, "activities[0].experiences"),
        (
            {"locations": {"mboxes": [{"locationLocalId": 0}]}},
            "activities[0].locations.mboxes[0].name",
        ),
        (
            {"entryConstraint": {"visitorPercentage": 120}},
            "activities[0].entryConstraint.visitorPercentage",
        ),
    ],
)
def test_activity_errors_name_the_field(change: dict[str, Any], path: str) -> None:
    with pytest.raises(ArtifactError) as caught:
        compile_([activity(1) | change])
    assert caught.value.path == path


# -- determinism and event tokens --------------------------------------------------------------


def test_same_input_gives_the_same_bytes() -> None:
    activities = [activity(1, audiences=[[1], [2]]), activity(2, "xt", audiences=[[4], [5], []])]
    first = dump_artifact(compile_(activities))
    reordered_offers = dict(reversed(list(OFFERS.items())))
    reordered_audiences = dict(reversed(list(AUDIENCES.items())))
    second = dump_artifact(
        compile_(json.loads(json.dumps(activities)), reordered_offers, reordered_audiences)
    )
    assert first == second
    assert json.loads(first) == compile_(activities)


def test_event_tokens_are_unique_per_experience_and_stable() -> None:
    artifact = compile_(
        [activity(1, shares=[50, 50], mboxes=("a", "b")), activity(2, shares=[20, 30, 50])]
    )
    tokens: dict[tuple[int, int], set[str]] = {}
    for rule_list in artifact["rules"]["mboxes"].values():
        for rule in rule_list:
            key = (rule["activityId"], rule["meta"]["experience.id"])
            tokens.setdefault(key, set()).add(rule["consequence"]["options"][0]["eventToken"])
    assert all(len(found) == 1 for found in tokens.values())  # shared across mboxes
    flat = {next(iter(found)): key for key, found in tokens.items()}
    assert len(flat) == len(tokens) == 5
    for token, (activity_id, experience_id) in flat.items():
        assert decode_event_token(token) == EventTokenRef(activity_id, experience_id)
        assert token == event_token(activity_id, experience_id)


def test_event_tokens_with_a_secret() -> None:
    artifact = compile_([activity(1)], token_secret=b"tenant-key")
    token = rules(artifact)[0]["consequence"]["options"][0]["eventToken"]
    assert decode_event_token(token, secret=b"tenant-key") == EventTokenRef(1, 0)
    assert decode_event_token(token) is None
    assert decode_event_token(token, secret=b"other") is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64!",
        "abzfLHwlBDBNtz9ALey2fGqipfsIHvVzTQxHolz2IpSCnQ9Y9OaLL2gsdrWQTvE54PwSz67rmXWmSnkXpSSS2Q==",
        event_token(1, 0)[:-4] + "AAA=",
        "é",
        None,
        42,
    ],
)
def test_foreign_or_damaged_tokens_decode_to_none(token: object) -> None:
    assert decode_event_token(token) is None


def test_event_token_edge_values() -> None:
    for ids in [(0, 0), (2**63 - 1, 2**31 - 1), (-1, -1)]:
        assert decode_event_token(event_token(*ids)) == EventTokenRef(*ids)

"""How `decide` reads the shapes a request can take, beyond the spec cases' well-formed JSON.

`decide` takes any mapping (a caller's read-only one decides as a dict would), notes each part
of a request it ignores and why, reads view requests as Adobe's SDKs do, and reports why a rule
failed. These are the engine's own answers (reasons, notes), so they are tested here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from cible.engine import EXTRA_KEY, Artifact, decide, load_artifact

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rule(key: str, name: str, condition: Any, content: Any) -> dict[str, Any]:
    return {
        "ruleKey": key,
        "activityId": int(key),
        "meta": {"activity.id": int(key), "experience.id": 0},
        "condition": condition,
        "consequence": {
            "name": name,
            "options": [{"type": "json", "content": content, "eventToken": f"t-{key}"}],
            "metrics": [{"type": "click", "eventToken": f"c-{key}"}],
        },
    }


def _artifact(condition: Any = None, content: Any = None, **extra: Any) -> Artifact:
    condition = {"==": [{"var": "mbox.tier"}, "gold"]} if condition is None else condition
    return load_artifact(
        {
            "version": "1.0.0",
            "meta": {"clientCode": "acme"},
            "localMboxes": ["probe", "target-global-mbox"],
            "localViews": ["home", "cart"],
            "rules": {
                "mboxes": {
                    "probe": [_rule("1", "probe", condition, content or {"hit": 1})],
                    "target-global-mbox": [_rule("2", "target-global-mbox", True, {"page": 1})],
                },
                "views": {
                    "home": [_rule("3", "home", {"==": [1, 1]}, {"view": "home"})],
                    "cart": [_rule("4", "cart", {"==": [1, 1]}, {"view": "cart"})],
                },
            },
            **extra,
        }
    )


REQUEST: dict[str, Any] = {
    "requestId": "r-1",
    "id": {"tntId": "visitor-1.28_0"},
    "property": {"token": "p"},
    "context": {
        "channel": "web",
        "address": {"url": "https://shop.example.com/", "referringUrl": "https://a.example.org/"},
    },
    "experienceCloud": {"audienceManager": {"segments": ["1"]}},
    "execute": {
        "pageLoad": {"parameters": {"tier": "gold"}},
        "mboxes": [
            {
                "name": "probe",
                "index": 1,
                "parameters": {"tier": "gold"},
                "address": {"url": "https://shop.example.com/x"},
            }
        ],
    },
    "prefetch": {"views": [{"name": "home"}, {"parameters": {"tier": "gold"}}]},
}


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_frozen(item) for item in value]
    return value


def _request_notes(result: Mapping[str, Any]) -> list[str]:
    reasons = result[EXTRA_KEY]["reasons"]
    return [reason["message"] for reason in reasons if reason["scope"] == "request"]


@pytest.mark.parametrize("trace", [False, True])
def test_a_request_of_read_only_mappings_decides_as_one_of_dicts(trace: bool) -> None:
    artifact = _artifact()
    expected = decide(artifact, REQUEST, now=NOW, trace=trace)
    assert expected["execute"]["mboxes"][0]["options"][0]["content"] == {"hit": 1}
    assert expected["execute"]["pageLoad"]["options"][0]["content"] == {"page": 1}
    assert [view["name"] for view in expected["prefetch"]["views"]] == ["cart", "home"]
    profile = _frozen({"tier": "gold"})
    got = decide(artifact, _frozen(REQUEST), profile=profile, now=NOW, trace=trace)
    assert got == decide(artifact, REQUEST, profile={"tier": "gold"}, now=NOW, trace=trace)
    assert got["execute"] == expected["execute"] and got["prefetch"] == expected["prefetch"]
    unknown = _frozen({**REQUEST, "prefetch": {"views": [{"name": "search"}]}})
    assert decide(artifact, unknown, now=NOW, trace=trace)[EXTRA_KEY]["remoteViews"] == ["search"]


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"execute": "x"}, "'execute' is not an object; ignored"),
        ({"execute": {"mboxes": "probe"}}, "'execute.mboxes' is not an array; ignored"),
        ({"execute": {"pageLoad": []}}, "'execute.pageLoad' is not an object; ignored"),
        ({"execute": {"views": []}}, "'execute.views' is not part of the delivery API"),
        ({"prefetch": {"views": "home"}}, "'prefetch.views' is not an array; ignored"),
        ({"prefetch": {"views": [7]}}, "'prefetch.views[0]' is not an object; ignored"),
        ({"id": "visitor"}, "'id' is not an object; no visitor id"),
    ],
)
def test_each_ignored_part_of_a_request_is_noted(change: dict[str, Any], note: str) -> None:
    request = {key: value for key, value in REQUEST.items() if key not in ("execute", "prefetch")}
    result = decide(_artifact(), {**request, **change}, now=NOW)
    assert any(note in message for message in _request_notes(result)), _request_notes(result)


def test_a_well_formed_request_has_no_notes() -> None:
    assert _request_notes(decide(_artifact(), REQUEST, now=NOW)) == []


def test_a_view_request_with_an_empty_name_asks_for_every_view() -> None:
    request = {**REQUEST, "prefetch": {"views": [{"name": ""}]}}
    views = decide(_artifact(), request, now=NOW)["prefetch"]["views"]
    assert [view["name"] for view in views] == ["cart", "home"]


def test_an_empty_view_list_asks_for_no_view_and_nothing_remote() -> None:
    artifact = _artifact(remoteViews=["checkout"])
    result = decide(artifact, {**REQUEST, "prefetch": {"views": []}}, now=NOW)
    assert (result["status"], result[EXTRA_KEY]["remoteViews"]) == (200, [])


def test_a_view_the_artifact_does_not_know_is_remote() -> None:
    request = {**REQUEST, "prefetch": {"views": [{"name": "search"}]}}
    result = decide(_artifact(), request, now=NOW)
    assert (result["status"], result[EXTRA_KEY]["remoteViews"]) == (206, ["search"])


@pytest.mark.parametrize("trace", [False, True])
def test_visitor_ids_keep_only_string_keys(trace: bool) -> None:
    ids = {"tntId": "visitor-1.28_0", 7: "x", _Key("thirdPartyId"): "tp"}
    flat = {"id": ids, "context": {}, "execute": {"mboxes": [{"name": "probe"}]}}
    for request in ({**REQUEST, "id": ids}, flat):
        result = decide(_artifact(), request, now=NOW, trace=trace)
        assert result["id"] == {"tntId": "visitor-1.28_0", "thirdPartyId": "tp"}


class _Key(str):
    """A caller's string subclass (an enum member, say) is a string key."""


def test_a_time_rule_not_met_with_a_clock_gives_no_clock_reason() -> None:
    artifact = _artifact({"==": [{"var": "current_day"}, "1"]})  # 2026-11-25 is a Wednesday
    result = decide(artifact, REQUEST, now=NOW, trace=True)
    rules = [rule for reason in result[EXTRA_KEY]["reasons"] for rule in reason.get("rules", [])]
    assert rules[0]["reason"] == "condition not met"


def test_a_condition_that_cannot_be_evaluated_does_not_match() -> None:
    # A profile is the caller's Python data: an int no double holds makes float arithmetic fail.
    artifact = _artifact({">": [{"*": [{"var": "profile.big"}, 0.5]}, 1]})
    for trace in (False, True):
        result = decide(artifact, REQUEST, profile={"big": 10**400}, now=NOW, trace=trace)
        assert "options" not in result["execute"]["mboxes"][0]
    rules = [rule for reason in result[EXTRA_KEY]["reasons"] for rule in reason.get("rules", [])]
    assert (rules[0]["matched"], rules[0]["reason"]) == (
        False,
        "condition could not be evaluated: OverflowError('int too large to convert to float')",
    )


@pytest.mark.parametrize("trace", [False, True])
def test_content_marshal_cannot_write_is_still_answered(trace: bool) -> None:
    # A parsed artifact may hold values JSON never does; the flat path's prepared fragments
    # (marshal bytes) cannot, and the option is built directly instead.
    artifact = _artifact({"==": [1, 1]}, content={"price": Decimal("1.5")})
    request = {
        "id": {"tntId": "visitor-1.28_0"},
        "context": {},
        "execute": {"mboxes": [{"name": "probe"}]},
    }
    for _ in range(2):  # the second decision reuses what the first prepared
        mbox = decide(artifact, request, now=NOW, trace=trace)["execute"]["mboxes"][0]
        assert mbox["options"][0]["content"] == {"price": Decimal("1.5")}
        assert mbox["metrics"] == [{"type": "click", "eventToken": "c-1"}]


def test_a_request_that_is_not_an_object_is_noted() -> None:
    notes = _request_notes(decide(_artifact(), ["probe"], now=NOW))  # type: ignore[arg-type]
    assert notes == ["request is not an object; nothing decided"]


def test_no_client_code_is_noted() -> None:
    artifact = load_artifact({"version": "1.0.0", "rules": {"mboxes": {}, "views": {}}})
    notes = _request_notes(decide(artifact, REQUEST, now=NOW))
    assert any("no client code" in note for note in notes), notes
    assert not any(
        "no client code" in note for note in _request_notes(decide(_artifact(), REQUEST, now=NOW))
    )


@pytest.mark.parametrize(
    ("arguments", "note"),
    [
        ({"now": "2026-11-25"}, "'now' is not a datetime; time-bound conditions are false"),
        ({"profile": "gold"}, "'profile' is not a mapping; ignored"),
        ({"client": 42}, "'client' is not a string; the artifact's client code is used"),
    ],
)
def test_each_ignored_argument_is_noted(arguments: dict[str, Any], note: str) -> None:
    # REQUEST takes the general walk; `flat` would take the flat path with good arguments.
    flat = {
        "id": {"tntId": "visitor-1.28_0"},
        "context": {},
        "execute": {"mboxes": [{"name": "probe"}]},
    }
    for request in (REQUEST, flat):
        notes = _request_notes(decide(_artifact(), request, **{"now": NOW, **arguments}))
        assert note in notes, notes


def _allocation(ids: Any) -> Any:
    artifact = _artifact({"<=": [{"var": "allocation"}, 100]})
    request = {**REQUEST, "id": ids}
    result = decide(artifact, request, now=NOW, trace=True)
    entry = next(r for r in result[EXTRA_KEY]["reasons"] if r.get("name") == "probe")
    return entry["rules"][0].get("allocation")


@pytest.mark.parametrize(
    ("ids", "same_as"),
    [
        ({"marketingCloudVisitorId": "", "tntId": "abc.28_0"}, {"tntId": "abc.28_0"}),
        ({"marketingCloudVisitorId": 5, "tntId": "abc.28_0"}, {"tntId": "abc.28_0"}),
        ({"tntId": ".28_0", "thirdPartyId": "tp"}, {"thirdPartyId": "tp"}),
        ({"tntId": 7, "thirdPartyId": "tp"}, {"thirdPartyId": "tp"}),
        (
            {"marketingCloudVisitorId": "", "tntId": "", "thirdPartyId": "tp"},
            {"thirdPartyId": "tp"},
        ),
    ],
)
def test_the_allocation_id_passes_over_empty_and_non_string_ids(
    ids: dict[str, Any], same_as: dict[str, Any]
) -> None:
    assert _allocation({"tntId": "abc.28_0"}) != _allocation({"thirdPartyId": "tp"})
    assert _allocation(ids) == _allocation(same_as) is not None


@pytest.mark.parametrize(
    "ids", [{"thirdPartyId": ""}, {"thirdPartyId": 5}, {"marketingCloudVisitorId": "", "tntId": 3}]
)
def test_no_usable_id_means_no_allocation(ids: dict[str, Any]) -> None:
    assert _allocation(ids) is None
    notes = _request_notes(decide(_artifact(), {**REQUEST, "id": ids}, now=NOW))
    assert any("no visitor id" in note for note in notes), notes


@pytest.mark.parametrize("trace", [False, True])
def test_read_only_property_and_address_are_read(trace: bool) -> None:
    condition = {"==": [{"var": "page.path"}, "/x"]}
    rule = {**_rule("5", "probe", condition, {"hit": 1}), "propertyTokens": ["p"]}
    artifact = load_artifact(
        {
            "version": "1.0.0",
            "meta": {"clientCode": "acme"},
            "localMboxes": ["probe"],
            "rules": {"mboxes": {"probe": [rule]}, "views": {}},
        }
    )
    mbox = {"name": "probe", "address": MappingProxyType({"url": "https://shop.example.com/x"})}
    request = {"id": {"tntId": "visitor-1.28_0"}, "context": {}, "execute": {"mboxes": [mbox]}}
    for prop, hit in ((MappingProxyType({"token": "p"}), True), ({"token": "q"}, False)):
        result = decide(artifact, {**request, "property": prop}, now=NOW, trace=trace)
        assert ("options" in result["execute"]["mboxes"][0]) is hit

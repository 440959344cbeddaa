"""Malformed artifacts are rejected whole, with a message naming the rule at fault."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cible.engine import ArtifactError, load_artifact


def _artifact() -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "meta": {"clientCode": "acme"},
        "globalMbox": "target-global-mbox",
        "geoTargetingEnabled": False,
        "responseTokens": ["activity.id"],
        "localMboxes": ["home"],
        "remoteMboxes": [],
        "localViews": ["cart"],
        "remoteViews": [],
        "rules": {
            "mboxes": {
                "home": [
                    {
                        "ruleKey": "401-0",
                        "activityId": 401,
                        "meta": {"activity.id": 401, "experience.id": 0},
                        "condition": {"<=": [0, {"var": "allocation"}, 100]},
                        "consequence": {
                            "name": "home",
                            "options": [{"type": "json", "content": {}, "eventToken": "t"}],
                            "metrics": [],
                        },
                    },
                    {
                        "ruleKey": "402-0",
                        "activityId": 402,
                        "meta": {"activity.id": 402},
                        "condition": {"==": [{"var": "mbox.a"}, "b"]},
                        "consequence": {"name": "home", "options": []},
                    },
                ]
            },
            "views": {
                "cart": [
                    {
                        "ruleKey": "403-0",
                        "activityId": 403,
                        "meta": {"activity.id": 403},
                        "condition": True,
                        "consequence": {"name": "cart", "options": []},
                    }
                ]
            },
        },
    }


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    artifact = copy.deepcopy(_artifact())
    target: Any = artifact
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return artifact


_DELETE = object()
HOME_1 = ["rules", "mboxes", "home", 1]


def test_valid_artifact_loads() -> None:
    artifact = load_artifact(_artifact())
    assert [rule.key for rule in artifact.mbox_rules["home"]] == ["401-0", "402-0"]
    assert artifact.mbox_rules["home"][0].reads_allocation
    assert not artifact.mbox_rules["home"][1].reads_allocation
    assert artifact.client_code == "acme"


def test_loads_from_bytes_and_text() -> None:
    text = json.dumps(_artifact())
    assert load_artifact(text).version == load_artifact(text.encode()).version == "1.0.0"


@pytest.mark.parametrize(
    ("artifact", "fragments"),
    [
        pytest.param(b"{not json", ["not valid JSON"], id="bad-json"),
        pytest.param(b"\xff\xfe\x00", ["not valid JSON"], id="bad-encoding"),
        pytest.param("[1, 2]", ["must be a JSON object"], id="not-an-object"),
        pytest.param('{"version": "1.0.0", "x": NaN}', ["not valid JSON"], id="nan-constant"),
        pytest.param(
            _with(["version"], "2.0.0"),
            ["version '2.0.0'", "major version must be 1"],
            id="major-2",
        ),
        pytest.param(_with(["version"], 1), ["'version' must be a string"], id="version-number"),
        pytest.param(_with(["version"], _DELETE), ["'version' must be a string"], id="no-version"),
        pytest.param(_with(["version"], "one.0"), ["not supported"], id="version-garbage"),
        pytest.param(
            _with(["responseTokens"], "activity.id"), ["'responseTokens'"], id="tokens-not-list"
        ),
        pytest.param(_with(["localMboxes"], [1]), ["'localMboxes'"], id="local-mboxes-numbers"),
        pytest.param(
            _with(["geoTargetingEnabled"], "yes"), ["geoTargetingEnabled"], id="geo-not-bool"
        ),
        pytest.param(_with(["globalMbox"], ""), ["globalMbox"], id="empty-global-mbox"),
        pytest.param(_with(["rules"], []), ["'rules' must be an object"], id="rules-list"),
        pytest.param(
            _with(["rules", "mboxes"], []), ["'mboxes' must be an object"], id="mboxes-list"
        ),
        pytest.param(
            _with(["rules", "mboxes", "home"], {}),
            ["rules.mboxes['home']", "array"],
            id="rule-list-object",
        ),
        pytest.param(
            _with(HOME_1, "rule"),
            ["rules.mboxes['home'][1]", "must be an object"],
            id="rule-string",
        ),
        pytest.param(
            _with([*HOME_1, "ruleKey"], None),
            ["rules.mboxes['home'][1]", "ruleKey"],
            id="no-rule-key",
        ),
        pytest.param(
            _with([*HOME_1, "condition"], {"regex_match": [{"var": "page.url"}, "x"]}),
            [
                "rules.mboxes['home'][1] (ruleKey '402-0')",
                "unknown JSON Logic operator 'regex_match'",
                "condition: unknown",
            ],
            id="unknown-operator",
        ),
        pytest.param(
            _with([*HOME_1, "condition"], {"and": [True, {"or": [{"method": ["x", "upper"]}]}]}),
            ["ruleKey '402-0'", "'method'", "condition.and[1].or[0]"],
            id="nested-unknown-operator",
        ),
        pytest.param(
            _with([*HOME_1, "condition"], {"==": [1]}),
            ["ruleKey '402-0'", "expects 2"],
            id="wrong-arity",
        ),
        pytest.param(
            _with([*HOME_1, "condition"], {"==": [{"var": ["a", 1, 2]}, 1]}),
            ["ruleKey '402-0'", "condition.==[0].var: expects 0 to 2 arguments"],
            id="var-too-many-arguments",
        ),
        pytest.param(
            _with([*HOME_1, "condition"], _DELETE),
            ["ruleKey '402-0'", "'condition' is missing"],
            id="no-condition",
        ),
        pytest.param(
            _with([*HOME_1, "consequence"], []),
            ["ruleKey '402-0'", "'consequence'"],
            id="consequence-list",
        ),
        pytest.param(
            _with([*HOME_1, "consequence", "options"], [{"type": 3}]),
            ["ruleKey '402-0'", "options[].type"],
            id="option-type-number",
        ),
        pytest.param(
            _with([*HOME_1, "consequence", "options"], "html"),
            ["ruleKey '402-0'", "consequence.options"],
            id="options-string",
        ),
        pytest.param(
            _with([*HOME_1, "consequence", "metrics"], [{"eventToken": 5}]),
            ["ruleKey '402-0'", "eventToken"],
            id="metric-token-number",
        ),
        pytest.param(_with([*HOME_1, "meta"], []), ["ruleKey '402-0'", "'meta'"], id="meta-list"),
        pytest.param(
            _with([*HOME_1, "meta"], {"activity.id": "abc"}),
            ["ruleKey '402-0'", "activity.id"],
            id="activity-id-text",
        ),
        pytest.param(
            _with([*HOME_1, "propertyTokens"], "prop"),
            ["ruleKey '402-0'", "propertyTokens"],
            id="property-tokens-string",
        ),
        pytest.param(
            _with(["rules", "views", "cart", 0, "condition"], {"nope": []}),
            ["rules.views['cart'][0] (ruleKey '403-0')", "'nope'"],
            id="view-rule-unknown-operator",
        ),
    ],
)
def test_malformed_artifact_is_rejected(artifact: Any, fragments: list[str]) -> None:
    with pytest.raises(ArtifactError) as raised:
        load_artifact(artifact)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_deeply_nested_condition_is_rejected_not_crashing() -> None:
    condition: Any = True
    for _ in range(5000):
        condition = {"!": [condition]}
    with pytest.raises(ArtifactError, match="ruleKey '402-0'"):
        load_artifact(_with([*HOME_1, "condition"], condition))


def test_artifact_error_is_a_value_error() -> None:
    assert issubclass(ArtifactError, ValueError)

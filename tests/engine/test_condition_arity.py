"""Every operator's argument count is checked when the artifact loads, and every malformed
condition is an `ArtifactError` naming the rule and the node, never another exception.

A check removed from an operator would let `load_artifact` accept the condition or fail later
with an IndexError or ValueError of its own: each case below pins the message of the check.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from cible.engine import ArtifactError, _jsonlogic, decide, load_artifact
from cible.engine._jsonlogic import compile_condition


def _artifact(condition: Any) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "rules": {
            "mboxes": {
                "probe": [
                    {
                        "ruleKey": "1",
                        "activityId": 1,
                        "meta": {"activity.id": 1},
                        "condition": condition,
                        "consequence": {"name": "probe", "options": []},
                    }
                ]
            },
            "views": {},
        },
    }


X = {"var": "mbox.x"}

WRONG_COUNTS = [
    # (condition, the node and the message)
    ({"==": [X]}, "condition.==: expects 2 arguments, got 1"),
    ({"==": [X, 1, 2]}, "condition.==: expects 2 arguments, got 3"),
    ({"===": []}, "condition.===: expects 2 arguments, got 0"),
    ({"!=": [X]}, "condition.!=: expects 2 arguments, got 1"),
    ({"!==": [X, 1, 2]}, "condition.!==: expects 2 arguments, got 3"),
    ({">": [X]}, "condition.>: expects 2 arguments, got 1"),
    ({">=": [X, 1, 2]}, "condition.>=: expects 2 arguments, got 3"),
    ({"<": [X]}, "condition.<: expects 2 to 3 arguments, got 1"),
    ({"<": [0, X, 5, 9]}, "condition.<: expects 2 to 3 arguments, got 4"),
    ({"<=": [X]}, "condition.<=: expects 2 to 3 arguments, got 1"),
    ({"<=": [0, X, 5, 9]}, "condition.<=: expects 2 to 3 arguments, got 4"),
    ({"!": []}, "condition.!: expects 1 to any arguments, got 0"),
    ({"!!": []}, "condition.!!: expects 1 to any arguments, got 0"),
    ({"var": ["mbox.x", 1, 2]}, "condition.var: expects 0 to 2 arguments, got 3"),
    ({"missing_some": [1]}, "condition.missing_some: expects 2 arguments, got 1"),
    ({"missing_some": [1, ["a"], 3]}, "condition.missing_some: expects 2 arguments, got 3"),
    ({"regex": [X]}, "condition.regex: expects 2 arguments, got 1"),
    ({"==": [{"*": []}, 1]}, "condition.==[0].*: expects 1 to any arguments, got 0"),
    ({"==": [{"-": []}, 1]}, "condition.==[0].-: expects 1 to 2 arguments, got 0"),
    ({"==": [{"-": [1, 2, 3]}, 1]}, "condition.==[0].-: expects 1 to 2 arguments, got 3"),
    ({"==": [{"/": [1]}, 1]}, "condition.==[0]./: expects 2 arguments, got 1"),
    ({"==": [{"%": [1, 2, 3]}, 1]}, "condition.==[0].%: expects 2 arguments, got 3"),
    ({"==": [{"substr": []}, 1]}, "condition.==[0].substr: expects 1 to 3 arguments, got 0"),
    ({"==": [{"substr": ["a", 1, 2, 3]}, 1]}, "condition.==[0].substr: expects 1 to 3 arguments"),
    ({"==": [{"log": []}, 1]}, "condition.==[0].log: expects 1 to any arguments, got 0"),
    ({"some": [[1]]}, "condition.some: expects 2 arguments, got 1"),
    ({"all": [[1], X, X]}, "condition.all: expects 2 arguments, got 3"),
    ({"none": []}, "condition.none: expects 2 arguments, got 0"),
    ({"==": [{"map": [[1]]}, 1]}, "condition.==[0].map: expects 2 arguments, got 1"),
    ({"==": [{"filter": [[1]]}, 1]}, "condition.==[0].filter: expects 2 arguments, got 1"),
    ({"==": [{"reduce": [[1]]}, 1]}, "condition.==[0].reduce: expects 2 to 3 arguments, got 1"),
    ({"and": [True, {"==": [X]}]}, "condition.and[1].==: expects 2 arguments, got 1"),
    ({"or": [False, {"!": []}]}, "condition.or[1].!: expects 1 to any arguments, got 0"),
    ({"if": [{"<": [X]}, 1, 2]}, "condition.if[0].<: expects 2 to 3 arguments, got 1"),
]


@pytest.mark.parametrize(("condition", "message"), WRONG_COUNTS, ids=[m for _, m in WRONG_COUNTS])
def test_wrong_argument_count_is_an_artifact_error(condition: Any, message: str) -> None:
    with pytest.raises(ArtifactError) as raised:
        load_artifact(_artifact(condition))
    assert "ruleKey '1'" in str(raised.value)
    assert message in str(raised.value)


RIGHT_COUNTS = [
    {"==": [X, 1]},
    {"<": [0, X]},
    {"<": [0, X, 5]},
    {"!": [X]},
    {"!": X},  # a single argument need not be wrapped in an array (json-logic-js)
    {"!!": [X, "ignored"]},
    {"var": []},
    {"var": ["mbox.x", 1]},
    {"missing_some": [1, ["mbox.x"]]},
    {"-": [X]},
    {"substr": ["abc", 1, 1]},
    {"reduce": [[1], {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]},
    {"if": []},
    {"if": [X]},
    {"if": [X, 1, X, 2, X, 3, 4]},
]


@pytest.mark.parametrize("condition", RIGHT_COUNTS, ids=[str(c) for c in RIGHT_COUNTS])
def test_accepted_argument_counts_load(condition: Any) -> None:
    load_artifact(_artifact(condition))


MALFORMED = [
    ({1: [X, 1]}, "operator names must be strings"),
    ({"nope": [X]}, "unknown JSON Logic operator 'nope'"),
    ({"var": [{"x": 1, "y": 2}]}, ""),  # an object name is data, not a path: compiled, not a crash
    ({"var": [[1, 2]]}, ""),
    ({"var": [{"x": 1, "y": 2}, 1, 2]}, "expects 0 to 2 arguments, got 3"),
    ({"var": [True]}, ""),  # a boolean name reads the path "true", as String(true) does
    ({"regex": [X, {"var": "mbox.y"}]}, "expects a literal string pattern"),
    ({"regex": [X, "("]}, "invalid regular expression"),
]


@pytest.mark.parametrize(("condition", "message"), MALFORMED, ids=[str(c) for c, _ in MALFORMED])
def test_malformed_node_is_an_artifact_error_or_loads(condition: Any, message: str) -> None:
    if not message:
        load_artifact(_artifact(condition))
        return
    with pytest.raises(ArtifactError, match=message):
        load_artifact(_artifact(condition))


def test_an_unexpected_compiler_failure_is_still_an_artifact_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A builder that fails with its own exception (no check of its own) is reported as the
    artifact's fault: the loader converts every exception of a condition's compilation."""
    from cible.engine import _artifact as artifact_module

    for error in (IndexError("list index out of range"), ValueError("bad"), TypeError("t")):

        def broken(*_args: Any, error: Exception = error) -> Any:
            raise error

        monkeypatch.setattr(artifact_module, "compile_condition", broken)
        with pytest.raises(ArtifactError, match="malformed condition"):
            load_artifact(_artifact(True))


_LEAVES: list[Any] = [0, 1, -1, 2.5, "a", "", None, True, [], [1, "b"], X, {"var": "allocation"}]
# Every operator of the engine, by name.
_OPERATORS = sorted(_jsonlogic._OPERATORS)


def _random_condition(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(_LEAVES)
    operator = rng.choice(_OPERATORS)
    args = [_random_condition(rng, depth - 1) for _ in range(rng.randrange(7))]
    return {operator: args[0] if args and rng.random() < 0.15 else args}


def test_random_conditions_load_or_raise_artifact_errors_and_decide_without_raising() -> None:
    """Loading either succeeds or raises ArtifactError; deciding a loaded rule never raises."""
    rng = random.Random(16)
    request = {
        "id": {"tntId": "visitor-1"},
        "context": {"channel": "web"},
        "execute": {"mboxes": [{"name": "probe", "index": 1, "parameters": {"x": "2"}}]},
    }
    loaded = 0
    for _ in range(3000):
        condition = _random_condition(rng, 4)
        try:
            artifact = load_artifact(_artifact(condition))
        except ArtifactError:
            continue
        loaded += 1
        result = decide(artifact, request, client="acme")
        assert result["status"] in (200, 206)  # 206: a computed name may read a profile
    assert loaded > 300  # the generator produces valid conditions too, not only errors


def test_compile_condition_raises_logic_errors_with_paths() -> None:
    with pytest.raises(ValueError, match=r"condition\.and\[0\]\.or\[2\]\.==: expects 2"):
        compile_condition({"and": [{"or": [1, 2, {"==": [1]}]}]})

"""Whole-batch validation, without HTTP: the rules the spec cases do not reach one by one."""

from __future__ import annotations

from typing import Any

import pytest

from cible.batch.validate import ancestors, find_cycles, parse_batch
from cible.errors import BadRequest

REF0 = "{operationIdResponse:0}"
REF1 = "{operationIdResponse:1}"


def problems(data: Any) -> list[str]:
    with pytest.raises(BadRequest) as caught:
        parse_batch(data)
    return [item.message for item in caught.value.errors()]


def op(i: int, **extra: Any) -> dict[str, Any]:
    return {"operationId": i, "method": "GET", "relativeUrl": "/offers", **extra}


def test_a_valid_batch_keeps_its_operations() -> None:
    batch = parse_batch(
        {
            "operations": [
                op(4, method="post", body='{"a": 1}', headers=[{"name": "X-A", "value": "1"}]),
                op(2, dependsOnOperationIds=[4], relativeUrl="/x/{operationIdResponse:4}"),
                op(3, dependsOnOperationIds=None, headers=None),
            ]
        }
    )
    first, second, third = batch.operations
    assert (first.operation_id, first.method, first.body) == (4, "POST", {"a": 1})
    assert first.headers == (("X-A", "1"),)
    assert second.depends_on == (4,)
    assert second.references() == {4}
    assert (third.depends_on, third.headers, third.body) == ((), (), None)
    assert set(batch.by_id) == {2, 3, 4}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, ["body: must be a JSON object with an operations array"]),
        ({}, ["operations: is required and must be an array"]),
        ({"operations": {"0": {}}}, ["operations: is required and must be an array"]),
        ({"operations": [7]}, ["operations[0]: must be an object"]),
        (
            {"operations": [op(0, dependsOnOperationIds="1")]},
            ["operations[0].dependsOnOperationIds: must be an array of operation ids"],
        ),
        (
            {"operations": [op(0, dependsOnOperationIds=[True])]},
            ["operations[0].dependsOnOperationIds: must be an array of operation ids"],
        ),
        (
            {"operations": [op(0, headers={"X": "1"})]},
            ["operations[0].headers: must be an array of {name, value} objects"],
        ),
        (
            {"operations": [op(0, headers=[{"name": "X", "value": "a\r\nInjected: 1"}])]},
            ["operations[0].headers[0].value: must be a string without control characters"],
        ),
        (
            {"operations": [op(0, headers=[{"name": "X", "value": "1", "extra": 2}])]},
            ["operations[0].headers[0]: must be an object with only name and value"],
        ),
        (
            {"operations": [op(0, relativeUrl=5)]},
            ["operations[0].relativeUrl: is required and must be a non-empty string"],
        ),
    ],
)
def test_shape_problems(data: Any, expected: list[str]) -> None:
    assert problems(data) == expected


def test_at_most_255_dependencies() -> None:
    ops = [op(i) for i in range(256)]
    ops[0]["dependsOnOperationIds"] = list(range(1, 256))
    parse_batch({"operations": ops})
    ops[0]["dependsOnOperationIds"] = list(range(256))
    assert problems({"operations": ops}) == [
        "operations[0].dependsOnOperationIds: must hold at most 255 ids, got 256",
        "operations[0].dependsOnOperationIds: dependency cycle 0 -> 0",
    ]


def test_references_in_nested_body_strings_are_checked() -> None:
    ops = [
        op(0, method="POST"),
        op(1, method="POST", dependsOnOperationIds=[0]),
        op(2, method="PUT", dependsOnOperationIds=[1], body={"a": [{"b": REF0}]}),
        op(3, method="PUT", body={"a": {"b": ["{operationIdResponse:1}"]}}),
        op(4, method="PUT", body={"{operationIdResponse:1}": "keys are not references"}),
    ]  # fmt: skip
    assert problems({"operations": ops}) == [
        "operations[3].body: {operationIdResponse:1} needs operation 1 in dependsOnOperationIds "
        "(directly or through another operation)"
    ]


def test_a_reference_to_an_operation_with_a_bad_method_names_it() -> None:
    ops = [
        op(0, method="TRACE"),
        op(1, method=None),
        op(2, dependsOnOperationIds=[0, 1], relativeUrl=f"/{REF0}/{REF1}"),
    ]  # fmt: skip
    assert problems({"operations": ops})[-2:] == [
        "operations[2].relativeUrl: {operationIdResponse:0} names a TRACE operation; "
        "only a POST operation creates an id",
        "operations[2].relativeUrl: {operationIdResponse:1} names an invalid operation; "
        "only a POST operation creates an id",
    ]


def test_a_body_string_must_be_json_text() -> None:
    (message,) = problems({"operations": [op(0, method="POST", body="not json")]})
    assert message.startswith("operations[0].body: must be valid JSON (")


def test_find_cycles_reports_each_cycle_once_from_its_smallest_id() -> None:
    graph = {0: [1], 1: [2], 2: [0, 3], 3: [4], 4: [3], 5: [5], 6: [0]}
    assert find_cycles(graph) == [[0, 1, 2, 0], [3, 4, 3], [5, 5]]
    assert find_cycles({0: [], 1: [0], 2: [0, 1]}) == []


def test_ancestors_are_transitive() -> None:
    graph = {0: [], 1: [0], 2: [1], 3: [2, 0], 4: []}
    assert ancestors(graph, 3) == {0, 1, 2}
    assert ancestors(graph, 4) == set()

"""The scheduler and executor over a recording dispatcher: order, skips, substitution, bounds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
import pytest

from cible.batch import Reply, parse_batch, run_batch
from cible.batch.run import decode_body, substitute

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CREDENTIALS = [("authorization", "Bearer t"), ("x-api-key", "k")]
V2 = "application/vnd.adobe.target.v2+json"


@dataclass
class Recorder:
    """Answers each request from ``replies`` (by method and URL; default 200 with an id)."""

    replies: dict[tuple[str, str], Reply] = field(default_factory=dict)
    sent: list[tuple[str, str, list[tuple[str, str]], Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    fail_on: str | None = None

    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Reply:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await anyio.sleep(0)
            if url == self.fail_on:
                raise RuntimeError("boom")
            self.sent.append((method, url, headers, orjson.loads(body) if body else None))
            default = Reply(
                201 if method == "POST" else 200,
                [("content-type", "application/json"), ("content-length", "9")],
                orjson.dumps({"id": 100 + len(self.sent)}),
            )
            return self.replies.get((method, url), default)
        finally:
            self.in_flight -= 1


async def run(ops: list[dict[str, Any]], recorder: Recorder, **kw: Any) -> list[dict[str, Any]]:
    batch = parse_batch({"operations": ops})
    results = await run_batch(
        batch, recorder, tenant="acme", credentials=CREDENTIALS, now=NOW, **kw
    )
    return [r.to_json() for r in results]


def op(i: int, method: str = "GET", url: str = "/offers", **extra: Any) -> dict[str, Any]:
    return {"operationId": i, "method": method, "relativeUrl": url, **extra}


async def test_dependents_are_sent_after_their_dependencies() -> None:
    recorder = Recorder()
    ops = [
        op(3, url="/c", dependsOnOperationIds=[1, 2]),
        op(2, url="/b", dependsOnOperationIds=[0]),
        op(1, url="/a", dependsOnOperationIds=[0]),
        op(0, "POST", "/root"),
    ]
    results = await run(ops, recorder)

    order = [url for _, url, _, _ in recorder.sent]
    assert order[0] == "/acme/target/root"
    assert order[-1] == "/acme/target/c"
    assert set(order[1:3]) == {"/acme/target/a", "/acme/target/b"}
    assert [r["statusCode"] for r in results] == [201, 200, 200, 200]


async def test_failure_skips_dependents_transitively_but_not_independents() -> None:
    recorder = Recorder(replies={("POST", "/acme/target/bad"): Reply(409, [], b"{}")})
    ops = [
        op(0, "POST", "/bad"),
        op(1, dependsOnOperationIds=[0]),
        op(2, dependsOnOperationIds=[1]),
        op(3, dependsOnOperationIds=[2, 4]),
        op(4, url="/fine"),
    ]
    results = await run(ops, recorder)

    assert [(r["skipped"], r["statusCode"]) for r in results] == [
        (False, 409),
        (True, None),
        (True, None),
        (True, None),
        (False, 200),
    ]
    assert sorted(url for _, url, _, _ in recorder.sent) == [
        "/acme/target/bad",
        "/acme/target/fine",
    ]


async def test_references_are_replaced_in_url_and_body() -> None:
    recorder = Recorder(
        replies={("POST", "/acme/target/offers/content"): Reply(201, [], b'{"id": 501}')}
    )
    ops = [
        op(0, "POST", "/offers/content", body={"name": "a"}),
        op(
            1,
            "PUT",
            "/activities/ab/{operationIdResponse:0}?from={operationIdResponse:0}",
            dependsOnOperationIds=[0],
            body={
                "options": [{"offerId": "{operationIdResponse:0}"}],
                "name": "uses {operationIdResponse:0}",
                "count": 3,
            },
        ),
    ]
    await run(ops, recorder)

    method, url, _, body = recorder.sent[1]
    assert (method, url) == ("PUT", "/acme/target/activities/ab/501?from=501")
    assert body == {"options": [{"offerId": 501}], "name": "uses 501", "count": 3}


async def test_a_referenced_operation_without_id_fails_the_referencing_one() -> None:
    recorder = Recorder(replies={("POST", "/acme/target/x"): Reply(201, [], b'{"name": "x"}')})
    ops = [op(0, "POST", "/x"), op(1, url="/y/{operationIdResponse:0}", dependsOnOperationIds=[0])]
    results = await run(ops, recorder)

    assert results[1]["statusCode"] == 400
    assert results[1]["body"]["errors"][0]["message"] == (
        "{operationIdResponse:0}: operation 0's response has no id"
    )
    assert results[1]["body"]["requestTime"] == "2026-01-15T12:00:00.000Z"
    assert len(recorder.sent) == 1


async def test_an_error_while_dispatching_fails_that_operation_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(fail_on="/acme/target/boom")
    with caplog.at_level(logging.ERROR, logger="cible.batch"):
        results = await run([op(0, url="/boom"), op(1, url="/ok")], recorder)

    assert [r.getMessage() for r in caplog.records] == ["batch operation 0 failed"]

    assert results[0]["statusCode"] == 500
    assert results[0]["body"]["errors"][0]["errorCode"] == "Internal.Error"
    assert results[1]["statusCode"] == 200


async def test_concurrency_is_bounded() -> None:
    recorder = Recorder()
    await run([op(i) for i in range(40)], recorder, concurrency=4)

    assert len(recorder.sent) == 40
    assert 1 < recorder.most_in_flight <= 4


async def test_headers_default_content_type_and_carry_credentials() -> None:
    recorder = Recorder()
    ops = [
        op(0, "POST", "/a"),
        op(1, "PUT", "/b", headers=[{"name": "content-TYPE", "value": V2}]),
        op(2, "GET", "/c", headers=[{"name": "X-Api-Key", "value": "mine"}]),
        op(3, "DELETE", "/d", body={"ignored": True}),
    ]  # fmt: skip
    await run(ops, recorder)

    sent = {url: (headers, body) for _, url, headers, body in recorder.sent}
    assert sent["/acme/target/a"] == ([*CREDENTIALS, ("Content-Type", "application/json")], {})
    assert sent["/acme/target/b"][0] == [("content-TYPE", V2), *CREDENTIALS]
    assert sent["/acme/target/c"] == ([("X-Api-Key", "mine"), CREDENTIALS[0]], None)
    assert sent["/acme/target/d"] == (CREDENTIALS, None)


async def test_result_headers_drop_the_encoded_length() -> None:
    results = await run([op(0)], Recorder())
    assert results[0]["headers"] == [{"name": "content-type", "value": "application/json"}]


def test_substitute_keeps_types_outside_references() -> None:
    value = {"a": "{operationIdResponse:1}", "b": ["x{operationIdResponse:2}"], "c": None}
    assert substitute(value, {1: 7, 2: "ab"}) == {"a": 7, "b": ["xab"], "c": None}
    assert substitute("/o/{operationIdResponse:1}", {1: 7}, in_url=True) == "/o/7"
    assert substitute("{operationIdResponse:1}", {1: 7}, in_url=True) == "7"


def test_decode_body() -> None:
    assert decode_body(b"") is None
    assert decode_body(b'{"a": [1]}') == {"a": [1]}
    assert decode_body(b"<html>") == "<html>"

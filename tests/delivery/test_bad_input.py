"""Bad delivery requests get Adobe's ``{"status": 400, "message"}`` naming the field, and change
nothing: no profile, id, assignment or event row is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BACKENDS, count_rows

from . import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

URL = "/rest/v1/delivery?client=acme&sessionId=s1"
OK = {"context": {"channel": "web"}}
TABLES = ("profiles", "profile_ids", "visitor_assignments", "events")

CASES: list[tuple[str, bytes | Any, str, str]] = [
    ("malformed JSON", b'{"context": ', URL, "request: malformed JSON"),
    ("invalid UTF-8", b'{"context": {"channel": "\xff\xfe"}}', URL, "request: malformed JSON"),
    ("not an object", [1, 2], URL, "request: must be an object"),
    ("no context", {"execute": {}}, URL, "context: is required"),
    ("bad channel", {"context": {"channel": "tv"}}, URL, "context.channel: must be one of"),
    (
        "wrong type",
        {**OK, "execute": {"mboxes": [{"index": "one", "name": "hero"}]}},
        URL,
        "execute.mboxes[0].index",
    ),
    (
        "10,000 mboxes",
        {**OK, "execute": {"mboxes": [{"index": i, "name": f"m{i}"} for i in range(10_000)]}},
        URL,
        "execute.mboxes: size must be between 0 and 50",
    ),
    (
        "huge parameter",
        {**OK, "execute": {"mboxes": [{"index": 1, "name": "a", "parameters": {"p": "x" * 6000}}]}},
        URL,
        "execute.mboxes[0].parameters.p: size must be between 0 and 5000",
    ),
    (
        "profile value over 256",
        {**OK, "prefetch": {"pageLoad": {"profileParameters": {"p": "x" * 300}}}},
        URL,
        "prefetch.pageLoad.profileParameters.p",
    ),
    (
        "duplicate index",
        {**OK, "execute": {"mboxes": [{"index": 1, "name": "a"}, {"index": 1, "name": "b"}]}},
        URL,
        "execute.mboxes[1].index: must be unique",
    ),
    (
        "notification without timestamp",
        {**OK, "notifications": [{"id": "n", "type": "display", "tokens": ["t"]}]},
        URL,
        "notifications[0].timestamp: is required",
    ),
    (
        "timestamp past year 9999",
        {
            **OK,
            "notifications": [
                {"id": "n", "type": "click", "timestamp": 10**17, "tokens": ["t"]},
            ],
        },
        URL,
        "notifications[0].timestamp: must be milliseconds since the epoch",
    ),
    ("tntId too long", {**OK, "id": {"tntId": "x" * 200}}, URL, "id.tntId"),
    ("tntId without id", {**OK, "id": {"tntId": ".alice"}}, URL, "id.tntId: must start with"),
    ("tntId only a dot", {**OK, "id": {"tntId": "."}}, URL, "id.tntId: must start with"),
    ("tntId empty", {**OK, "id": {"tntId": ""}}, URL, "id.tntId: must start with"),
    ("no sessionId", OK, "/rest/v1/delivery?client=acme", "sessionId: is required"),
    ("bad sessionId", OK, "/rest/v1/delivery?client=acme&sessionId=a%20b", "sessionId"),
    ("no tenant", OK, "/rest/v1/delivery?sessionId=s", "client"),
    ("unknown client", OK, "/rest/v1/delivery?client=nope&sessionId=s", "Unknown client nope"),
    (
        "client twice",
        OK,
        "/rest/v1/delivery?client=acme&client=other&sessionId=s",
        "client: must be given once",
    ),
    (
        "sessionId twice",
        OK,
        "/rest/v1/delivery?client=acme&sessionId=a&sessionId=b",
        "sessionId: must be given once",
    ),
]


@pytest.mark.parametrize(
    ("body", "url", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_bad_requests_get_400_and_change_nothing(
    world: Any, app: Any, http: Any, database: Any, body: Any, url: str, message: str
) -> None:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    before = {t: count_rows(database, t) for t in TABLES}
    if isinstance(body, bytes):
        response = await http.post(url, content=body, headers={"content-type": "application/json"})
    else:
        response = await http.post(url, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["status"] == 400 and message in error["message"]
    assert {t: count_rows(database, t) for t in TABLES} == before


async def test_body_over_the_limit_gets_413(world: Any, app: Any, http: Any, database: Any) -> None:
    world.tenant("acme")
    big = b'{"context": {"channel": "web"}, "x": "' + b"y" * 2_000_000 + b'"}'
    response = await http.post(URL, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert count_rows(database, "profiles") == 0

"""relativeUrl resolution: the tenant prefix, legacy forms, and the URLs refused per operation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cible.batch.urls import LEGACY, resolve
from cible.errors import BadRequest, NotFound

DOCS = Path(__file__).parents[2] / "docs" / "batch.md"


@pytest.mark.parametrize(
    ("method", "relative", "expected"),
    [
        ("GET", "/offers/content/7", "/acme/target/offers/content/7"),
        ("GET", "/activities?limit=10&offset=10", "/acme/target/activities?limit=10&offset=10"),
        ("POST", "/v1/offers", "/acme/target/offers/content"),
        ("GET", "/v1/offers", "/acme/target/offers"),
        ("GET", "/v2/offers/", "/acme/target/offers"),
        ("DELETE", "/v1/offers/501", "/acme/target/offers/content/501"),
        ("POST", "/v1/campaigns", "/acme/target/activities/ab"),
        ("GET", "/v2/campaigns?limit=10&offset=10", "/acme/target/activities?limit=10&offset=10"),
        ("PUT", "/v1/campaigns/5", "/acme/target/activities/ab/5"),
        ("PUT", "/v1/campaigns/5/state", "/acme/target/activities/ab/5/state"),
        ("GET", "/v1/segments", "/acme/target/audiences"),
        ("PATCH", "/v3/segments/4", "/acme/target/audiences/4"),
        ("GET", "/v1/mboxes", "/acme/target/mboxes"),
        ("GET", "/v1/audiences/3", "/acme/target/audiences/3"),
        ("GET", "/v1", "/acme/target/"),
        ("GET", "/version/1", "/acme/target/version/1"),
        ("GET", "/offers?q=caf%C3%A9&x=a+b", "/acme/target/offers?q=caf%C3%A9&x=a+b"),
    ],
)
def test_resolution(method: str, relative: str, expected: str) -> None:
    assert resolve("acme", method, relative).url == expected


@pytest.mark.parametrize(
    "relative",
    ["offers", "", "/offers/a b", "/offers/{x}", "/../ims", "/a/%2E%2E/b", "/./offers", "/batch",
     "/batch/", "/v1/batch", "/b%61tch"],
)  # fmt: skip
def test_refused_with_404(relative: str) -> None:
    with pytest.raises(NotFound):
        resolve("acme", "GET", relative)


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("/offers?q=a b", "found ' '"),
        ("/offers?q=a#b", "found '#'"),
        ("/offers?q=caf\u00e9", "found '\u00e9'"),
        ("/offers?q=100%", "'%' is not an escape"),
        ("/offers?q=%G1", "'%G1' is not an escape"),
    ],
)
def test_unencoded_queries_are_400(relative: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        resolve("acme", "GET", relative)
    assert caught.value.errors()[0].message == (
        f"relativeUrl: the query string must be URL-encoded; {message}"
    )


def test_every_legacy_mapping_is_documented() -> None:
    text = DOCS.read_text()
    missing = [route.description for route in LEGACY if f"- {route.description}\n" not in text]
    assert missing == []

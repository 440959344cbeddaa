"""Runs the batch cases of ``tests/spec/batch.json`` through the HTTP API, on both backends.

The file's ``description`` explains a case's keys; this runner builds the caller, the request
(expanding generated operations and headers), posts it, and compares the answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cible.tenants import service as tenants
from cible.tenants.tables import Workspace
from tests.conftest import BACKENDS, World, count_rows

SPEC = json.loads((Path(__file__).parents[1] / "spec" / "batch.json").read_text())
CASES = {case["name"]: case for case in SPEC["cases"]}
REFERENCE = re.compile(r"\{operationIdResponse:(\d+)\}")

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


def _fill(value: Any, i: int) -> Any:
    """``value`` with ``{i}`` replaced by ``i`` in every string."""
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, dict):
        return {k: _fill(v, i) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, i) for v in value]
    return value


def build_request(case: dict[str, Any]) -> dict[str, Any]:
    if "generate" in case:
        gen = case["generate"]
        ops = [{"operationId": i, **_fill(gen["operation"], i)} for i in range(gen["count"])]
        return {"operations": ops}
    request = json.loads(json.dumps(case["request"]))
    for op in request.get("operations", []):
        headers = op.get("headers")
        if isinstance(headers, dict) and "generate" in headers:
            op["headers"] = [_fill(headers["header"], i) for i in range(headers["generate"])]
    return request


def created_ids(results: list[dict[str, Any]]) -> dict[int, Any]:
    return {
        r["operationId"]: r["body"]["id"]
        for r in results
        if isinstance(r["body"], dict) and "id" in r["body"]
    }


def resolve(expected: Any, ids: dict[int, Any]) -> Any:
    """``expected`` with references replaced as the batch replaces them in a body."""
    if isinstance(expected, str):
        whole = REFERENCE.fullmatch(expected)
        if whole:
            return ids[int(whole.group(1))]
        return REFERENCE.sub(lambda m: str(ids[int(m.group(1))]), expected)
    if isinstance(expected, dict):
        return {k: resolve(v, ids) for k, v in expected.items()}
    if isinstance(expected, list):
        return [resolve(v, ids) for v in expected]
    return expected


def assert_subset(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing {key!r} in {actual!r}"
            assert_subset(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(expected) == len(actual), f"{where}: expected {expected!r}, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


def check_result(expected: dict[str, Any], actual: dict[str, Any], ids: dict[int, Any]) -> None:
    where = f"result {actual['operationId']}"
    assert set(actual) == {"operationId", "skipped", "statusCode", "headers", "body"}, where
    for key in ("operationId", "skipped", "statusCode"):
        assert actual[key] == expected[key], f"{where}.{key}: {actual}"
    if actual["skipped"]:
        assert actual["headers"] == [] and actual["body"] is None, where
    headers = expected.get("headers")
    if isinstance(headers, dict):
        got = {h["name"].lower(): h["value"] for h in actual["headers"]}
        for name, value in headers.items():
            assert got.get(name.lower()) == value, f"{where}.headers: {actual['headers']}"
    elif headers is not None:
        assert actual["headers"] == headers, where
    if "body" in expected:
        assert_subset(resolve(expected["body"], ids), actual["body"], f"{where}.body")


@pytest.mark.parametrize("name", list(CASES))
async def test_batch_case(world: World, name: str) -> None:
    case = CASES[name]
    world.tenant("acme")
    with world.database.session() as session:
        tenant_id = tenants.get_tenant(session, "acme").id
        for ws in case.get("setup", {}).get("workspaces", []):
            session.add(Workspace(tenant_id=tenant_id, name=ws))
    grants = case.get("caller", [{"role": "editor"}])
    credential = await world.credential("acme", grants[0]["role"], grants[0].get("workspace"))
    if len(grants) > 1:
        with world.database.session() as session:
            for grant in grants[1:]:
                tenants.grant(
                    session,
                    client_id=credential.client_id,
                    tenant_code="acme",
                    role=grant["role"],
                    workspace=grant.get("workspace"),
                )
    headers = {**credential.headers, "Content-Type": case.get("contentType", "application/json")}
    if "rawBody" in case:
        content = case["rawBody"].encode()
    else:
        content = json.dumps(build_request(case)).encode()

    response = await world.http.post("/acme/target/batch", content=content, headers=headers)

    expected = case["expected"]
    assert response.status_code == expected["status"], response.text
    body = response.json()
    if "errors" in expected:
        assert [e["message"] for e in body["errors"]] == expected["errors"]
        assert body["httpStatus"] == expected["status"]
    if "errorCodes" in expected:
        assert [e["errorCode"] for e in body["errors"]] == expected["errorCodes"]
    if expected["status"] == 200:
        results = body["results"]
        ids = [r["operationId"] for r in results]
        assert ids == sorted(ids)
        if "resultCount" in expected:
            assert len(results) == expected["resultCount"]
        if "statusCodes" in expected:
            counts: dict[str, int] = {}
            for r in results:
                counts[str(r["statusCode"])] = counts.get(str(r["statusCode"]), 0) + 1
            assert counts == expected["statusCodes"]
        if "results" in expected:
            assert ids == [r["operationId"] for r in expected["results"]]
            created = created_ids(results)
            for want, got in zip(expected["results"], results, strict=True):
                check_result(want, got, created)
    for table, count in expected.get("rows", {}).items():
        assert count_rows(world.database, table) == count, table

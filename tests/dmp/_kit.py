"""Helpers of the audience manager tests: build a taxonomy through ``/v1`` and call the DCS."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Credential

HOST = "acme.demdex.localhost"


class Aam:
    """The ``/v1`` API and the DCS of tenant ``acme`` for one credential."""

    def __init__(self, http: httpx.AsyncClient, cred: Credential) -> None:
        self.http = http
        self.cred = cred

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = await self.http.request(method, path, json=body, headers=self.cred.headers)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def data_source(self, name: str = "Site", **extra: Any) -> int:
        body = {"name": name, **extra}
        return int((await self.call("POST", "/v1/datasources/", body, 201))["dataSourceId"])

    async def folder(self, kind: str = "traits", name: str = "Root", parent: int = 0) -> int:
        body = {"name": name, "parentFolderId": parent}
        return int((await self.call("POST", f"/v1/folders/{kind}/", body, 201))["folderId"])

    async def trait(self, rule: str, ds: int, folder: int, **extra: Any) -> int:
        body = {
            "name": extra.pop("name", rule[:60]),
            "traitType": extra.pop("traitType", "RULE_BASED_TRAIT"),
            "traitRule": rule,
            "dataSourceId": ds,
            "folderId": folder,
            **extra,
        }
        return int((await self.call("POST", "/v1/traits/", body, 201))["sid"])

    async def segment(self, rule: str, ds: int, folder: int, **extra: Any) -> int:
        body = {
            "name": extra.pop("name", rule[:60]),
            "segmentRule": rule,
            "dataSourceId": ds,
            "folderId": folder,
            **extra,
        }
        return int((await self.call("POST", "/v1/segments/", body, 201))["sid"])

    async def event(
        self,
        params: dict[str, Any] | list[tuple[str, str]],
        uuid: str | None = None,
        host: str = HOST,
    ) -> httpx.Response:
        query: list[tuple[str, str]] = (
            list(params.items()) if isinstance(params, dict) else list(params)
        )
        query += [("d_rtbd", "json"), ("d_cts", "2")]
        if uuid:
            query.append(("d_uuid", uuid))
        return await self.http.get("/event", params=query, headers={"Host": host})

"""Wire shapes of the batch API (Adobe Admin API ``BatchRequest``, ``BatchResponse``).

These models document the request and response in the OpenAPI document. The request is checked
by ``cible.batch.validate`` instead of by these models, because a refused batch must list every
problem, including those that span operations (duplicate ids, cycles, references), in one 400.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Header(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Header name; unique case-insensitively within an operation.")
    value: str = Field(default="", description="Header value.")


class OperationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    operation_id: int = Field(alias="operationId", ge=0, le=255)
    depends_on_operation_ids: list[int] = Field(
        default_factory=list,
        alias="dependsOnOperationIds",
        max_length=255,
        description="Operations that must answer 2xx before this one runs.",
    )
    method: str = Field(description="GET, POST, PUT, PATCH or DELETE (case-insensitive).")
    relative_url: str = Field(
        alias="relativeUrl",
        description="Path below /{tenant}/target (or a legacy /vN/ form), URL-encoded query; "
        "may hold {operationIdResponse:N}.",
    )
    headers: list[Header] = Field(default_factory=list, max_length=50)
    body: Any = Field(
        default=None,
        description="JSON value (or a string of JSON text) sent with POST, PUT and PATCH; "
        "default {}. String values may hold {operationIdResponse:N}.",
    )


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operations: list[OperationIn] = Field(min_length=1, max_length=256)


class ResultOut(BaseModel):
    operation_id: int = Field(alias="operationId")
    skipped: bool
    status_code: int | None = Field(alias="statusCode", description="null when skipped.")
    headers: list[Header]
    body: Any = Field(description="The response body as a JSON value; null when skipped.")


class BatchOut(BaseModel):
    results: list[ResultOut]


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` inlined, so it can sit anywhere in OpenAPI."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved

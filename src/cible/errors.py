"""The errors every layer raises, each mapped to one HTTP status and Adobe's error envelope.

Services raise these; the web layer renders them as
``{httpStatus, requestId, requestTime, errors: [{errorCode, message}]}`` (Adobe Target Admin API,
``ErrorResponse``). Nothing below knows about HTTP requests.

::

    CibleError (500, Internal.Error)
     +-- BadRequest (400, Invalid.Request)        one ErrorItem per invalid field
     +-- Unauthorized (401, Unauthorized)
     +-- Forbidden (403, Forbidden)
     +-- NotFound (404, Not.Found)
     +-- MethodNotAllowed (405, Method.Not.Allowed)
     +-- UnsupportedFeature (406, Unsupported.Feature)
     +-- Conflict (409, Conflict)
     +-- PayloadTooLarge (413, Payload.Too.Large)
     +-- UnsupportedMediaType (415, Unsupported.Media.Type)
     +-- TooManyRequests (429, Too.Many.Requests)  carries retry_after seconds
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class ErrorItem:
    """One entry of the envelope's ``errors`` list."""

    error_code: str
    message: str
    meta: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"errorCode": self.error_code, "message": self.message}
        if self.meta:
            item["meta"] = self.meta
        return item


@dataclass
class CibleError(Exception):
    """Base of every error the API reports; ``status`` and ``code`` pick the envelope."""

    message: str = "Internal server error"
    items: list[ErrorItem] = field(default_factory=list)
    status: ClassVar[int] = 500
    code: ClassVar[str] = "Internal.Error"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def errors(self) -> list[ErrorItem]:
        return self.items or [ErrorItem(self.code, self.message)]


class BadRequest(CibleError):
    status = 400
    code = "Invalid.Request"

    @classmethod
    def fields(cls, problems: list[tuple[str, str]]) -> BadRequest:
        """One error per ``(field path, message)``; the path leads the message."""
        items = [ErrorItem("Invalid.Field", f"{path}: {msg}") for path, msg in problems]
        return cls("; ".join(i.message for i in items), items)


class Unauthorized(CibleError):
    status = 401
    code = "Unauthorized"


class Forbidden(CibleError):
    status = 403
    code = "Forbidden"


class NotFound(CibleError):
    status = 404
    code = "Not.Found"


class MethodNotAllowed(CibleError):
    status = 405
    code = "Method.Not.Allowed"


class UnsupportedFeature(CibleError):
    """Adobe Admin API, Versioning: a version the route does not serve."""

    status = 406
    code = "Unsupported.Feature"

    def __init__(self, message: str = "Unsupported features detected") -> None:
        super().__init__(message)


class Conflict(CibleError):
    status = 409
    code = "Conflict"


class PayloadTooLarge(CibleError):
    status = 413
    code = "Payload.Too.Large"


class UnsupportedMediaType(CibleError):
    status = 415
    code = "Unsupported.Media.Type"


@dataclass
class TooManyRequests(CibleError):
    retry_after: int = 1
    status: ClassVar[int] = 429
    code: ClassVar[str] = "Too.Many.Requests"

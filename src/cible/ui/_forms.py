"""Turning HTML form fields into the Admin API's pydantic bodies, and errors back into text.

The UI builds the same body a client would send (``ContentOfferIn``, ``AudienceIn``,
``ActivityIn``) and hands it to the same service, so validation lives in one place.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from cible.errors import BadRequest, CibleError
from cible.web.envelope import validation_problems
from cible.web.paging import Page

M = TypeVar("M", bound=BaseModel)

# Lists in the UI show everything up to this many rows, newest first.
ALL = Page(offset=0, limit=500, sort=(("id", True),))


def body(model: type[M], data: dict[str, Any]) -> M:
    """``data`` validated as ``model``; a ``BadRequest`` naming each field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest.fields(validation_problems(list(exc.errors()))) from None


def json_field(name: str, text: str) -> Any:
    """``text`` parsed as JSON; a ``BadRequest`` on the field ``name`` otherwise."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest.fields([(name, f"JSON is malformed ({exc.msg})")]) from None


def messages(exc: CibleError) -> list[str]:
    return [item.message for item in exc.errors()]


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def lines_to_dict(text: str) -> dict[str, str]:
    """``key=value`` lines (blank lines ignored) as a dict, for visitor contexts."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise BadRequest.fields([("parameters", f"{line!r} is not key=value")])
        found[key.strip()] = value.strip()
    return found

"""Wire shape of ``GET /profileattributes/mbox`` (Adobe Admin API, old reference)."""

from __future__ import annotations

from typing import Any


def profile_attributes_json(names: list[str]) -> dict[str, Any]:
    return {"mboxProfileAttributes": names}

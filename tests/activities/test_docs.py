"""Every route of activities, mboxes and the served artifact is in docs/activities.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from cible.activities.abxt import routes as activities
from cible.activities.mboxes import routes as mboxes
from cible.artifacts import routes as artifacts

DOC = Path(__file__).resolve().parents[2] / "docs" / "activities.md"


def _documented_form(method: str, path: str) -> str:
    short = path.removeprefix("/{tenant}/target")
    short = re.sub(r"{activity_id}", "{id}", short)
    short = short.replace("{property_token}", "{propertyToken}")
    return f"`{method} {short}`"


def test_every_route_is_documented() -> None:
    text = DOC.read_text()
    routes: list[Any] = [*activities.router.routes, *mboxes.router.routes, *artifacts.router.routes]
    missing = []
    for route in routes:
        assert isinstance(route, APIRoute)
        for method in sorted(route.methods):
            form = _documented_form(method, route.path)
            if form not in text:
                missing.append(form)
    assert missing == [], f"document these routes in docs/activities.md: {missing}"

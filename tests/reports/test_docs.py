"""Every report route and query parameter is in docs/reports.md."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from cible.activities.autoallocate import routes as autoallocate
from cible.reports import routes

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


def test_every_route_is_documented() -> None:
    text = DOC.read_text()
    missing = []
    for route in [*routes.router.routes, *autoallocate.router.routes]:
        assert isinstance(route, APIRoute)
        path = route.path.removeprefix("/{tenant}/target").replace("{activity_id}", "{id}")
        for method in sorted(route.methods):
            if f"`{method} {path}`" not in text:
                missing.append(f"{method} {path}")
    assert missing == [], f"document these routes in docs/reports.md: {missing}"


def test_every_query_parameter_is_documented() -> None:
    text = DOC.read_text()
    source = (Path(routes.__file__).parent / "service.py").read_text()
    names = set(re.findall(r'params(?:\.get\(|, )"([A-Za-z]+)"', source))
    names |= set(re.findall(r'"([a-zA-Z]+)" in params', source))
    assert {"reportInterval", "countingMethod", "environmentId"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert missing == [], f"document these query parameters in docs/reports.md: {missing}"

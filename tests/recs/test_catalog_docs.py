"""Every recommendations route is in docs/recommendations.md, as `METHOD /path`."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import iter_route_contexts

from cible.config import Settings
from cible.web.app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "recommendations.md"
PREFIX = "/{tenant}/target/recs"


def test_every_recs_route_is_documented() -> None:
    app = create_app(Settings(database_url="sqlite://", _env_file=None))  # type: ignore[call-arg]
    text = DOC.read_text()
    missing = []
    for route in iter_route_contexts(app.routes):
        if not route.path or not route.path.startswith(PREFIX + "/"):
            continue
        short = route.path.removeprefix(PREFIX)
        for method in sorted(route.methods or ()):
            if method != "HEAD" and f"`{method} {short}`" not in text:
                missing.append(f"`{method} {short}`")
    app.state.db.dispose()
    assert not missing, f"document these routes in docs/recommendations.md: {missing}"

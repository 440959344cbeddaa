"""The interactive API documentation at ``/docs``, served from the package, never from a CDN.

FastAPI's default page loads Swagger UI from a third-party CDN, so an offline install shows a
blank page and every visit tells that CDN who reads the docs. The assets are vendored from the npm
package ``swagger-ui-dist`` (version and licence beside them in ``static/swagger-ui/``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse

from cible.errors import NotFound

ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSET_URL = "/docs/assets"
# Served by name from this fixed set, so a path can never reach another file.
_MEDIA = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain",
    "NOTICE": "text/plain",
}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Cible API",
        swagger_js_url=f"{ASSET_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_URL}/favicon-32x32.png",
    )


@router.get(ASSET_URL + "/{name}")
def asset(name: str) -> FileResponse:
    media_type = _MEDIA.get(name)
    if media_type is None:
        raise NotFound(f"no documentation asset named {name!r}")
    # The assets change only with Cible's version, so browsers may keep them for a day.
    return FileResponse(
        ASSETS / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )

"""Feed routes (a Cible addition under Adobe's ``/recs`` prefix): parse, call, render."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.recs import feeds as service
from cible.recs.schemas import FeedIn, FeedUploadIn
from cible.web.admin import AdminCall, admin, admin_openapi

V1 = (1,)
router = APIRouter()


@router.get("/feeds", **admin_openapi(V1, summary="List catalog feeds (Cible)"))
def list_feeds(call: AdminCall = Depends(admin(V1))) -> Response:
    page = call.page(service.SORTABLE)
    with call.db.session() as session:
        rows, total = service.list_feeds(session, call.principal, page)
        return call.render(page.envelope("list", [service.feed_json(f) for f in rows], total))


@router.post(
    "/feeds", **admin_openapi(V1, body=FeedIn, status=201, summary="Create a catalog feed (Cible)")
)
def create(call: AdminCall = Depends(admin(V1, body=FeedIn))) -> Response:
    with call.db.session() as session:
        feed = service.create_feed(session, call.principal, call.body, call.now)
        return call.render(service.feed_json(feed), status=201)


@router.get("/feeds/{feed_id}", **admin_openapi(V1, summary="Get a catalog feed (Cible)"))
def read(feed_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        return call.render(service.feed_json(service.get_feed(session, call.principal, feed_id)))


@router.put(
    "/feeds/{feed_id}", **admin_openapi(V1, body=FeedIn, summary="Update a catalog feed (Cible)")
)
def update(feed_id: int, call: AdminCall = Depends(admin(V1, body=FeedIn))) -> Response:
    with call.db.session() as session:
        feed = service.update_feed(session, call.principal, feed_id, call.body, call.now)
        return call.render(service.feed_json(feed))


@router.delete("/feeds/{feed_id}", **admin_openapi(V1, summary="Delete a catalog feed (Cible)"))
def delete(feed_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        return call.render(service.feed_json(service.delete_feed(session, call.principal, feed_id)))


@router.put(
    "/feeds/{feed_id}/file",
    **admin_openapi(
        V1, body=FeedUploadIn, status=202, summary="Upload a feed's file and import it (Cible)"
    ),
)
def upload(feed_id: int, call: AdminCall = Depends(admin(V1, body=FeedUploadIn))) -> Response:
    with call.db.session() as session:
        feed = service.upload_file(session, call.principal, feed_id, call.body.content)
        return call.render(service.feed_json(feed), status=202)


@router.post(
    "/feeds/{feed_id}/run",
    **admin_openapi(V1, status=202, summary="Run a catalog feed now (Cible)", optional_body=True),
)
def run(feed_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        return call.render(
            service.feed_json(service.run_now(session, call.principal, feed_id)), status=202
        )

"""The admin web UI served at ``/ui``: sign-in, activities, offers, audiences, previews and jobs.

Server-rendered Jinja2 pages with htmx (docs/ui.md). Every action calls the same domain services
as the Admin API, as a ``cible.tenants.Principal`` built from the signed-in user's roles, so one
authorization path serves both. ``mount_ui`` is what ``cible.web.app.create_app`` calls; the
import is deferred so that ``cible.store.models`` can import ``cible.ui.tables`` without pulling
in the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cible.config import Settings

__all__ = ["mount_ui"]


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Mount the UI at ``/ui`` on ``app`` and redirect ``/`` there."""
    from cible.ui.app import mount

    mount(app, settings)

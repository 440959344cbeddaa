"""The data exchange's jobs: collect real-time messages, send one (``cible.dmp.transfers.s2s``)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from cible.config import get_settings
from cible.dmp.transfers import export as _export  # noqa: F401 - its jobs register on import
from cible.dmp.transfers import s2s, wake, watch
from cible.jobs import outbound, task
from cible.store import Database


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _client(timeout: float) -> httpx.Client:
    return outbound.client(timeout=timeout, headers={"User-Agent": s2s.USER_AGENT})


@task(wake.COLLECT)
def collect(db: Database, payload: dict[str, Any]) -> None:
    """Membership changes since the last run, as messages to real-time destinations."""
    s2s.collect(db, int(payload.get("nowMs") or _now_ms()), get_settings().dcs_region)


@task(s2s.SEND)
def send(db: Database, payload: dict[str, Any]) -> None:
    """One real-time message to its destination; raises (and is retried) when refused."""
    s2s.send(db, int(payload["message"]), _client, _now_ms())


@task("dmp.inbound.scan")
def inbound_scan(db: Database, payload: dict[str, Any]) -> None:
    """Imports the onboarding and ID-sync files dropped in ``CIBLE_DMP_INBOUND_DIR`` (when set)."""
    settings = get_settings()
    if settings.dmp_inbound_dir:
        watch.scan(db, settings.dmp_inbound_dir, watch.options(settings.dmp_inbound_options))

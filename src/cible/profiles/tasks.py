"""Jobs of the profiles domain: ``profiles.batch_update`` applies an accepted bulk update."""

from __future__ import annotations

from typing import Any

from cible.jobs import task
from cible.profiles.batch import process_batch
from cible.store import Database


@task("profiles.batch_update")
def batch_update(db: Database, payload: dict[str, Any]) -> None:
    """Apply one accepted batch (idempotent: it resumes after its last committed chunk)."""
    process_batch(db, str(payload["batchId"]))

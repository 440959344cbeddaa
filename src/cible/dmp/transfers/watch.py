"""The watched inbound location: files dropped there are imported, once each, by a recurring job.

AAM polls its partners' FTP and S3 locations "multiple times throughout the day" and processes
what it finds (Adobe Audience Manager, "Inbound data ingestion FAQ"); Cible's ``dmp.inbound.scan``
job does the same every 5 minutes over ``CIBLE_DMP_INBOUND_DIR``, a folder or any fsspec URL
(``s3://bucket/prefix``, ``sftp://host/path``; ``CIBLE_DMP_INBOUND_OPTIONS`` holds the filesystem's
options as JSON, such as an S3 endpoint or an SFTP user). Onboarding files (``ftp_dpm_…``) and
ID-sync files (``adobe_id_…``) are imported; other names are left alone. ID-sync files go
first, so a drop holding both applies the mappings before the data that needs them, as AAM
asks partners to sync ids before sending data.

A file is known by name and md5 (``dmp_inbound_files``): one listed again unchanged is skipped;
one whose content changed is imported again. To avoid reading every file on every pass, a file
whose name was imported in full after its listed modification time, with the same size, is
skipped without being read. Drop files under a temporary name and rename them when complete,
as for AAM's S3 uploads: a partly written file would otherwise be imported as it stood.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import fsspec  # type: ignore[import-untyped]
import orjson
from sqlalchemy import select

from cible.dmp.transfers import idsync, inbound
from cible.dmp.transfers.tables import InboundFile
from cible.store import Database

log = logging.getLogger("cible.dmp")


def is_transfer_file(name: str) -> bool:
    """An onboarding or ID-sync file name."""
    return inbound.parse_name(name) is not None or idsync.parse_name(name) is not None


def import_file(db: Database, name: str, data: bytes) -> dict[str, Any]:
    """Applies one onboarding or ID-sync file by its name; returns its receipt."""
    if idsync.parse_name(name) is not None:
        return idsync.IdSyncImporter(db, name, data).run()
    return inbound.Importer(db, name, data).run()


def options(raw: str) -> dict[str, Any]:
    """``CIBLE_DMP_INBOUND_OPTIONS`` as keyword arguments of the fsspec filesystem."""
    if not raw.strip():
        return {}
    parsed = orjson.loads(raw)
    if not isinstance(parsed, dict):
        raise ValueError("CIBLE_DMP_INBOUND_OPTIONS must be a JSON object")
    return parsed


def _modified_ms(info: dict[str, Any]) -> int | None:
    """The listing's modification time; filesystems name and type it differently."""
    for key in ("mtime", "LastModified", "last_modified", "modified", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1000)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value * 1000)
    return None


def _unchanged(db: Database, name: str, info: dict[str, Any]) -> bool:
    """True when ``name`` was fully imported after it was last modified, at the same size."""
    modified = _modified_ms(info)
    if modified is None:
        return False
    with db.session() as s:
        found = s.scalar(
            select(InboundFile.id).where(
                InboundFile.file_name == name,
                InboundFile.state == "done",
                InboundFile.bytes == int(info.get("size") or 0),
                InboundFile.started_ms > modified,
            )
        )
    return found is not None


def _imported(db: Database, name: str, data: bytes) -> bool:
    """True when this very file (name and md5) was imported in full."""
    md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, as AAM's manifests
    with db.session() as s:
        found = s.scalar(
            select(InboundFile.id).where(
                InboundFile.file_name == name,
                InboundFile.md5 == md5,
                InboundFile.state == "done",
            )
        )
    return found is not None


def _order(entries: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    named = [(str(e["name"]).rstrip("/").rsplit("/", 1)[-1], e) for e in entries]
    files = [(n, e) for n, e in named if e.get("type") == "file" and is_transfer_file(n)]
    # ID syncs before data, then by name (which holds the partner's timestamp).
    return sorted(files, key=lambda item: (idsync.parse_name(item[0]) is None, item[0]))


def scan(db: Database, url: str, fs_options: dict[str, Any] | None = None) -> int:
    """Imports each new file of the location ``url``; returns how many it applied.

    A file that fails (an unknown data source, an unreadable file) is logged and left for the
    next pass; the others go on.
    """
    fs, root = fsspec.core.url_to_fs(url, **(fs_options or {}))
    applied = 0
    for name, info in _order(fs.ls(root, detail=True)):
        if _unchanged(db, name, info):
            continue
        try:
            data = fs.cat_file(info["name"])
            if _imported(db, name, data):
                continue
            import_file(db, name, data)
        except Exception:
            log.exception("inbound file failed", extra={"file": name})
            continue
        applied += 1
    return applied

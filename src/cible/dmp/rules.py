"""Each tenant's compiled :class:`RuleSet`, cached per process and rebuilt when it changes.

The taxonomy service bumps ``dmp_rules.version`` with every change; a DCS call reads that one
row and rebuilds the tenant's rules only when the version moved, so every worker sees a change
on its next call without any cross-process signal.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection, Table, bindparam, select

from cible.dmp.qualify import FolderDef, RuleSet, SegmentDef, TraitDef
from cible.dmp.tables import Folder, RulesVersion, Segment, Trait

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, int], tuple[int, RuleSet]] = {}  # (database, tenant) -> rules

_T: Table = Trait.__table__  # type: ignore[assignment]
_S: Table = Segment.__table__  # type: ignore[assignment]
_F: Table = Folder.__table__  # type: ignore[assignment]
_V: Table = RulesVersion.__table__  # type: ignore[assignment]
_VERSION = select(_V.c.version).where(_V.c.tenant_id == bindparam("tenant"))


def load_rules(conn: Connection, tenant_id: int) -> RuleSet:
    """The tenant's active traits, segments and trait folders, compiled."""
    traits = [
        TraitDef(
            sid=row.id,
            rule=row.trait_rule,
            ttl=row.ttl,
            trait_type=row.trait_type,
            data_source_id=row.data_source_id,
            folder_id=row.folder_id,
            active=row.status == "ACTIVE",
        )
        for row in conn.execute(
            select(
                _T.c.id,
                _T.c.trait_rule,
                _T.c.ttl,
                _T.c.trait_type,
                _T.c.data_source_id,
                _T.c.folder_id,
                _T.c.status,
            ).where(_T.c.tenant_id == tenant_id)
        )
    ]
    segments = [
        SegmentDef(row.id, row.segment_rule)
        for row in conn.execute(
            select(_S.c.id, _S.c.segment_rule).where(
                _S.c.tenant_id == tenant_id, _S.c.status == "ACTIVE"
            )
        )
    ]
    folder_traits = {t.folder_id: t.sid for t in traits if t.trait_type == "FOLDER_TRAIT"}
    folders = [
        FolderDef(row.id, row.parent_id, folder_traits.get(row.id))
        for row in conn.execute(
            select(_F.c.id, _F.c.parent_id).where(
                _F.c.tenant_id == tenant_id, _F.c.kind == "traits"
            )
        )
    ]
    return RuleSet.build(traits, segments, folders)


def rules_for(conn: Connection, tenant_id: int) -> RuleSet:
    """The tenant's rules, rebuilt only when ``dmp_rules.version`` moved since the last build."""
    version = conn.execute(_VERSION, {"tenant": tenant_id}).scalar_one_or_none()
    url = conn.engine.url
    key = (f"{url.drivername}:{url.host}:{url.port}:{url.database}", tenant_id)
    current = int(version or 0)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None and cached[0] == current:
        return cached[1]
    rules = load_rules(conn, tenant_id)
    with _LOCK:
        _CACHE[key] = (current, rules)
    return rules

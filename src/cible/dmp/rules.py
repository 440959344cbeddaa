"""Each tenant's compiled :class:`RuleSet`, cached per process and rebuilt when it changes.

The taxonomy service bumps ``dmp_rules.version`` with every change; a DCS call reads that one
row and rebuilds the tenant's rules only when the version moved, so every worker sees a change
on its next call without any cross-process signal.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection, Table, bindparam, select

from cible.dmp.qualify import FolderDef, RuleSet, SegmentDef, TraitDef
from cible.dmp.tables import DataSource, Folder, RulesVersion, Segment, Trait

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, int], tuple[int, RuleSet]] = {}  # (database, tenant) -> rules

_T: Table = Trait.__table__  # type: ignore[assignment]
_S: Table = Segment.__table__  # type: ignore[assignment]
_F: Table = Folder.__table__  # type: ignore[assignment]
_V: Table = RulesVersion.__table__  # type: ignore[assignment]
_DS: Table = DataSource.__table__  # type: ignore[assignment]
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
    # A segment's merge rule is its mergeRuleDataSourceId's, when that is a cross-device data
    # source whose profiles are authenticated profiles; any other segment is device only.
    merge_rules = {
        int(row.id): str(row.merge_rule)
        for row in conn.execute(
            select(_DS.c.id, _DS.c.merge_rule).where(
                _DS.c.tenant_id == tenant_id,
                _DS.c.id_type == "CROSS_DEVICE",
                _DS.c.authenticated_profile.is_(True),
            )
        )
    }
    segments = [
        SegmentDef(
            row.id,
            row.segment_rule,
            merge_rules.get(row.merge_rule_data_source_id or 0, "DEVICE_ONLY"),
            row.merge_rule_data_source_id if row.merge_rule_data_source_id in merge_rules else None,
        )
        for row in conn.execute(
            select(_S.c.id, _S.c.segment_rule, _S.c.merge_rule_data_source_id).where(
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
    rules = RuleSet.build(traits, segments, folders)
    rules.authenticated_sources = frozenset(merge_rules)
    rules.source_codes = {
        int(row.id): str(row.integration_code)
        for row in conn.execute(
            select(_DS.c.id, _DS.c.integration_code).where(
                _DS.c.tenant_id == tenant_id, _DS.c.integration_code.is_not(None)
            )
        )
    }
    return rules


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

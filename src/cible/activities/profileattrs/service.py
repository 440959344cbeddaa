"""Record and list the profile attribute names a tenant's visitors have been sent with.

Recording is an upsert (insert new names, move ``last_seen_at`` of known ones) in one statement,
so concurrent flushes from several delivery replicas never collide on the unique name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cible.activities.profileattrs.tables import ProfileAttribute

MAX_NAME_LENGTH = 250


def record_profile_attributes(
    session: Session, tenant_id: int, names: Iterable[str], now: datetime
) -> None:
    """Upserts ``names`` for the tenant; empty names and names over 250 characters are skipped."""
    wanted = sorted({n for n in names if 0 < len(n) <= MAX_NAME_LENGTH})
    if not wanted:
        return
    rows = [
        {"tenant_id": tenant_id, "name": n, "first_seen_at": now, "last_seen_at": now}
        for n in wanted
    ]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(ProfileAttribute).values(rows)
        statement = pg.on_conflict_do_update(
            index_elements=["tenant_id", "name"],
            set_={"last_seen_at": pg.excluded.last_seen_at},
        )
        session.execute(statement)
    else:
        lite = sqlite.insert(ProfileAttribute).values(rows)
        session.execute(
            lite.on_conflict_do_update(
                index_elements=["tenant_id", "name"],
                set_={"last_seen_at": lite.excluded.last_seen_at},
            )
        )
    session.flush()


def profile_attribute_names(session: Session, tenant_id: int) -> list[str]:
    """The tenant's recorded names, sorted."""
    return list(
        session.scalars(
            select(ProfileAttribute.name)
            .where(ProfileAttribute.tenant_id == tenant_id)
            .order_by(ProfileAttribute.name)
        )
    )

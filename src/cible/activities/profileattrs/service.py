"""Record and list the profile attribute names a tenant's visitors have been sent with.

Recording is an upsert (insert new names, move ``last_seen_at`` of known ones) in one statement,
so concurrent flushes from several delivery replicas never collide on the unique name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cible.activities.profileattrs.tables import ProfileAttribute

MAX_NAME_LENGTH = 250


def record_profile_attributes(
    session: Session,
    tenant_id: int,
    names: Iterable[str],
    now: datetime,
    *,
    max_names: int | None = None,
) -> int:
    """Upserts ``names`` for the tenant; empty names and names over 250 characters are skipped.

    Names come from unauthenticated traffic, so at most ``max_names`` are kept per tenant
    (docs/security.md): known names are always updated, new ones past the cap are skipped.
    Returns how many new names were skipped.
    """
    wanted = sorted({n for n in names if 0 < len(n) <= MAX_NAME_LENGTH})
    if not wanted:
        return 0
    dropped = 0
    if max_names is not None:
        known = set(
            session.scalars(
                select(ProfileAttribute.name).where(
                    ProfileAttribute.tenant_id == tenant_id, ProfileAttribute.name.in_(wanted)
                )
            )
        )
        count = session.scalar(
            select(func.count())
            .select_from(ProfileAttribute)
            .where(ProfileAttribute.tenant_id == tenant_id)
        )
        new = [n for n in wanted if n not in known]
        room = max(0, max_names - int(count or 0))
        dropped = max(0, len(new) - room)
        wanted = sorted(known | set(new[:room]))
        if not wanted:
            return dropped
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
    return dropped


def profile_attribute_names(session: Session, tenant_id: int) -> list[str]:
    """The tenant's recorded names, sorted."""
    return list(
        session.scalars(
            select(ProfileAttribute.name)
            .where(ProfileAttribute.tenant_id == tenant_id)
            .order_by(ProfileAttribute.name)
        )
    )

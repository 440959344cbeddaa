"""events: a qa flag on delivery events of QA calls (qaMode), which reports leave out

Revision ID: 0023_delivery_events_qa
Revises: 0004_delivery
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_delivery_events_qa"
down_revision: str | None = "0004_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("qa", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("qa")

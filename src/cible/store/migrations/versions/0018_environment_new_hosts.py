"""environments: the default environment for new hosts (Admin API /environments/defaults)

Revision ID: 0018_environment_new_hosts
Revises: 0002_catalog
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_environment_new_hosts"
down_revision: str | None = "0002_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.add_column(
            sa.Column("new_hosts", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Until now the one default environment served both purposes.
    op.execute("UPDATE environments SET new_hosts = is_default")


def downgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("new_hosts")

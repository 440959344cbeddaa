"""audience manager data sources: retention of inactive customer ids

Revision ID: 0025_dmp_customer_id_retention
Revises: 0024_dmp_export_runs
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_dmp_customer_id_retention"
down_revision: str | None = "0024_dmp_export_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dmp_data_sources") as batch:
        batch.add_column(
            sa.Column(
                "customer_id_retention_days", sa.Integer(), nullable=False, server_default="720"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("dmp_data_sources") as batch:
        batch.drop_column("customer_id_retention_days")

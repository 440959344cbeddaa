"""artifacts: the delivery API's variant, with the rules of remote (profile, visitor) activities

Revision ID: 0006_server_artifacts
Revises: 0003_activities
Create Date: 2026-11-25 16:20:59.103392
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_server_artifacts"
down_revision: str | None = "0003_activities"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("server_body", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("server_etag", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_column("server_etag")
        batch_op.drop_column("server_body")

"""recommendations: behaviour deduplicated by event key; stored models for incremental training

Revision ID: 0022_recs_incremental
Revises: 0017_recs_merchandising
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_recs_incremental"
down_revision: str | None = "0017_recs_merchandising"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recs_behaviour") as batch:
        batch.add_column(sa.Column("event_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            "uq_recs_behaviour_tenant_id_event_key", ["tenant_id", "event_key"]
        )
    op.create_table(
        "recs_models",
        sa.Column("criteria_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["criteria_id"],
            ["recs_criteria.id"],
            name=op.f("fk_recs_models_criteria_id_recs_criteria"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_models_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("criteria_id", name=op.f("pk_recs_models")),
    )


def downgrade() -> None:
    op.drop_table("recs_models")
    with op.batch_alter_table("recs_behaviour") as batch:
        batch.drop_constraint("uq_recs_behaviour_tenant_id_event_key", type_="unique")
        batch.drop_column("event_key")

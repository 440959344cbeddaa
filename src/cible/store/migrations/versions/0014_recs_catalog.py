"""recommendations: catalog, visitor behaviour, criteria, trained results, feeds

Revision ID: 0014_recs_catalog
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cible.store.base

revision: str = "0014_recs_catalog"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0002_catalog"  # recs_entities references environments


def upgrade() -> None:
    op.create_table(
        "recs_behaviour",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("entity_id", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("occurred_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_behaviour_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_behaviour")),
    )
    with op.batch_alter_table("recs_behaviour", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recs_behaviour_tenant_time", ["tenant_id", "occurred_ms"], unique=False
        )
        batch_op.create_index(
            "ix_recs_behaviour_tenant_visitor", ["tenant_id", "visitor"], unique=False
        )

    op.create_table(
        "recs_criteria",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("criteria_group", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("trained_at", cible.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("train_status", sa.String(length=32), nullable=False),
        sa.Column("modified_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_criteria_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_criteria")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_recs_criteria_tenant_id_name")),
    )
    op.create_table(
        "recs_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("upload", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("last_run_at", cible.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("modified_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_feeds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_feeds")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_recs_feeds_tenant_id_name")),
    )
    op.create_table(
        "recs_item_days",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=1000), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("buys", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_item_days_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "entity_id", "day", name=op.f("pk_recs_item_days")),
    )
    op.create_table(
        "recs_visitors",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=128), nullable=False),
        sa.Column("last_viewed", sa.String(length=1000), nullable=True),
        sa.Column("last_purchased", sa.String(length=1000), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_visitors_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "visitor", name=op.f("pk_recs_visitors")),
    )
    op.create_table(
        "recs_entities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("inventory", sa.BigInteger(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("created_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_recs_entities_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_entities_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_entities")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "entity_id",
            name=op.f("uq_recs_entities_tenant_id_environment_id_entity_id"),
        ),
    )
    op.create_table(
        "recs_results",
        sa.Column("criteria_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1008), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("trained_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["criteria_id"],
            ["recs_criteria.id"],
            name=op.f("fk_recs_results_criteria_id_recs_criteria"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_results_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("criteria_id", "key", name=op.f("pk_recs_results")),
    )


def downgrade() -> None:
    op.drop_table("recs_results")
    op.drop_table("recs_entities")
    op.drop_table("recs_visitors")
    op.drop_table("recs_item_days")
    op.drop_table("recs_feeds")
    op.drop_table("recs_criteria")
    with op.batch_alter_table("recs_behaviour", schema=None) as batch_op:
        batch_op.drop_index("ix_recs_behaviour_tenant_visitor")
        batch_op.drop_index("ix_recs_behaviour_tenant_time")

    op.drop_table("recs_behaviour")

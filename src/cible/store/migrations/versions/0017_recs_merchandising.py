"""recommendations: designs, collections, global exclusions, promotions

Revision ID: 0017_recs_merchandising
Revises: 0014_recs_catalog
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cible.store.base

revision: str = "0017_recs_merchandising"
down_revision: str | None = "0014_recs_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recs_collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("modified_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_collections_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_collections")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_recs_collections_tenant_id_name")),
    )
    op.create_table(
        "recs_designs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("modified_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_designs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_designs")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_recs_designs_tenant_id_name")),
    )
    op.create_table(
        "recs_exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("modified_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_exclusions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_exclusions")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_recs_exclusions_tenant_id_name")),
    )
    op.create_table(
        "recs_promotions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("modified_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recs_promotions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recs_promotions")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_recs_promotions_tenant_id_name")),
    )


def downgrade() -> None:
    op.drop_table("recs_promotions")
    op.drop_table("recs_exclusions")
    op.drop_table("recs_designs")
    op.drop_table("recs_collections")

"""audience manager data exchange: destinations, mappings, real-time messages, cursors

Revision ID: 0016_dmp_transfers
Revises: 0012_dmp
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cible.store.base

revision: str = "0016_dmp_transfers"
down_revision: str | None = "0012_dmp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def _destination(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["destination_id"],
        ["dmp_destinations.id"],
        name=op.f(f"fk_{table}_destination_id_dmp_destinations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "dmp_destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("destination_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("data_export_labels", sa.Text(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("create_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("update_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        _tenant("dmp_destinations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_destinations")),
    )
    op.create_index(
        "ix_dmp_destinations_tenant_type",
        "dmp_destinations",
        ["tenant_id", "destination_type"],
        unique=False,
    )
    op.create_table(
        "dmp_destination_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.Integer(), nullable=False),
        sa.Column("trait_alias", sa.String(length=255), nullable=False),
        sa.Column("value_alias", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secure_url", sa.Text(), nullable=False),
        sa.Column("start_date", sa.String(length=10), nullable=True),
        sa.Column("end_date", sa.String(length=10), nullable=True),
        sa.Column("create_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("update_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        _tenant("dmp_destination_mappings"),
        _destination("dmp_destination_mappings"),
        sa.ForeignKeyConstraint(
            ["sid"],
            ["dmp_segments.id"],
            name=op.f("fk_dmp_destination_mappings_sid_dmp_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_destination_mappings")),
        sa.UniqueConstraint(
            "destination_id", "sid", name=op.f("uq_dmp_destination_mappings_destination_id_sid")
        ),
    )
    op.create_index(
        "ix_dmp_destination_mappings_tenant_sid",
        "dmp_destination_mappings",
        ["tenant_id", "sid"],
        unique=False,
    )
    op.create_table(
        "dmp_s2s_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("delivered_ms", sa.BigInteger(), nullable=True),
        _tenant("dmp_s2s_messages"),
        _destination("dmp_s2s_messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_s2s_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_dmp_s2s_messages_idempotency_key")),
    )
    op.create_index(
        "ix_dmp_s2s_messages_destination_state",
        "dmp_s2s_messages",
        ["destination_id", "state"],
        unique=False,
    )
    op.create_table(
        "dmp_transfer_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dmp_transfer_cursors")),
    )


def downgrade() -> None:
    op.drop_table("dmp_transfer_cursors")
    op.drop_index("ix_dmp_s2s_messages_destination_state", table_name="dmp_s2s_messages")
    op.drop_table("dmp_s2s_messages")
    op.drop_index("ix_dmp_destination_mappings_tenant_sid", table_name="dmp_destination_mappings")
    op.drop_table("dmp_destination_mappings")
    op.drop_index("ix_dmp_destinations_tenant_type", table_name="dmp_destinations")
    op.drop_table("dmp_destinations")

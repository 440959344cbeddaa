"""audience manager batch file export runs

Revision ID: 0024_dmp_export_runs
Revises: 0021_dmp_inbound_files
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_dmp_export_runs"
down_revision: str | None = "0021_dmp_inbound_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dmp_export_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_ms", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("since_change", sa.BigInteger(), nullable=True),
        sa.Column("cutoff_change", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("manifest", sa.String(length=255), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_export_runs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["dmp_destinations.id"],
            name=op.f("fk_dmp_export_runs_destination_id_dmp_destinations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_export_runs")),
        sa.UniqueConstraint(
            "destination_id",
            "scheduled_ms",
            "mode",
            name=op.f("uq_dmp_export_runs_destination_id_scheduled_ms_mode"),
        ),
    )
    op.create_index(
        "ix_dmp_export_runs_destination_started",
        "dmp_export_runs",
        ["destination_id", "started_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_dmp_export_runs_destination_started", table_name="dmp_export_runs")
    op.drop_table("dmp_export_runs")

"""audience manager inbound onboarding files and their receipts

Revision ID: 0021_dmp_inbound_files
Revises: 0016_dmp_transfers
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_dmp_inbound_files"
down_revision: str | None = "0016_dmp_transfers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dmp_inbound_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lines_done", sa.BigInteger(), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("devices", sa.Text(), nullable=False),
        sa.Column("failed_users", sa.Text(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_inbound_files_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["dmp_data_sources.id"],
            name=op.f("fk_dmp_inbound_files_data_source_id_dmp_data_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_inbound_files")),
        sa.UniqueConstraint(
            "tenant_id",
            "file_name",
            "md5",
            name=op.f("uq_dmp_inbound_files_tenant_id_file_name_md5"),
        ),
    )
    op.create_index(
        "ix_dmp_inbound_files_data_source",
        "dmp_inbound_files",
        ["data_source_id", "started_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_dmp_inbound_files_data_source", table_name="dmp_inbound_files")
    op.drop_table("dmp_inbound_files")

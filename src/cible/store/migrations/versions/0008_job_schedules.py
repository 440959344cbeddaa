"""recurring job schedules and scheduler leases

Revision ID: 0008_job_schedules
Revises: 0005_jobs
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cible.store.base

revision: str = "0008_job_schedules"
down_revision: str | None = "0005_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_schedules",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(length=100), nullable=True),
        sa.Column("next_run_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", cible.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(every_seconds IS NULL) <> (cron IS NULL)",
            name=op.f("ck_job_schedules_one_timing"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_schedules")),
    )
    op.create_index(
        "ix_job_schedules_enabled_next_run_at",
        "job_schedules",
        ["enabled", "next_run_at"],
        unique=False,
    )
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
    op.drop_index("ix_job_schedules_enabled_next_run_at", table_name="job_schedules")
    op.drop_table("job_schedules")

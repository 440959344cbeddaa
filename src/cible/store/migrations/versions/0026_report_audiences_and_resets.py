"""reports by reporting audience and activity resets

Reporting audiences (Adobe ``reportingAudiences``): delivery events and visitor rows name the
reporting audiences the visitor qualified for; daily counts and visitor rows per reporting
audience. Activity reset (Cible extension): the time before which an activity's events no longer
count, and ``reportDataReset`` on changelog entries.

Revision ID: 0026_report_audiences_and_resets
Revises: 0011_reports
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_report_audiences_and_resets"
down_revision: str | None = "0011_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0003_activities", "0023_delivery_events_qa")


def _tenant(table: str) -> list[sa.Column[int] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.add_column("events", sa.Column("reporting_audiences", sa.Text(), nullable=True))
    op.add_column("report_visitors", sa.Column("reporting_audiences", sa.Text(), nullable=True))
    op.add_column(
        "activity_changes",
        sa.Column("report_data_reset", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "report_audience_daily",
        *_tenant("report_audience_daily"),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("reporting_audience", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.BigInteger(), nullable=False),
        sa.Column("experience_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=260), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.Column("value_sq_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "activity_id",
            "reporting_audience",
            "environment_id",
            "experience_id",
            "metric",
            "day",
            name=op.f("pk_report_audience_daily"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_audience_visitors",
        *_tenant("report_audience_visitors"),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("reporting_audience", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=128), nullable=False),
        sa.Column("qualified_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "activity_id",
            "reporting_audience",
            "visitor",
            name=op.f("pk_report_audience_visitors"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_resets",
        *_tenant("report_resets"),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("reset_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "activity_id", name=op.f("pk_report_resets")),
    )


def downgrade() -> None:
    for table in ("report_resets", "report_audience_visitors", "report_audience_daily"):
        op.drop_table(table)
    with op.batch_alter_table("activity_changes") as batch:
        batch.drop_column("report_data_reset")
    with op.batch_alter_table("report_visitors") as batch:
        batch.drop_column("reporting_audiences")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("reporting_audiences")

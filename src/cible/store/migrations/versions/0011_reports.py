"""report aggregates: visitors, daily counts, counted keys, orders, allocation history

Revision ID: 0011_reports
Revises: 0004_delivery
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_reports"
down_revision: str | None = "0004_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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
    op.create_table(
        "report_keys",
        *_tenant("report_keys"),
        sa.Column("key_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key_hash", name=op.f("pk_report_keys")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_visitors",
        *_tenant("report_visitors"),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("visitor", sa.String(length=128), nullable=False),
        sa.Column("experience_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.BigInteger(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("pre_value", sa.Float(), nullable=True),
        sa.Column("conversions", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "activity_id", "visitor", name=op.f("pk_report_visitors")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_daily",
        *_tenant("report_daily"),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
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
            "environment_id",
            "experience_id",
            "metric",
            "day",
            name=op.f("pk_report_daily"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_orders",
        *_tenant("report_orders"),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.String(length=250), nullable=False),
        sa.Column("experience_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.BigInteger(), nullable=False),
        sa.Column("visitor", sa.String(length=128), nullable=False),
        sa.Column("occurred_ms", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "activity_id", "order_id", name=op.f("pk_report_orders")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant("report_allocations"),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("computed_ms", sa.BigInteger(), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("winner", sa.Integer(), nullable=True),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_allocations")),
    )
    op.create_index(
        "ix_report_allocations_activity",
        "report_allocations",
        ["tenant_id", "activity_id", "computed_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_report_allocations_activity", table_name="report_allocations")
    for table in (
        "report_allocations",
        "report_orders",
        "report_daily",
        "report_visitors",
        "report_keys",
    ):
        op.drop_table(table)

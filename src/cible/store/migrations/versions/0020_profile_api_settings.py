"""profiles: per-tenant "Require Authentication" of the Profile APIs

Revision ID: 0020_profile_api_settings
Revises: 0009_profile_version
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_profile_api_settings"
down_revision: str | None = "0009_profile_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_api_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("require_auth", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("profile_api_settings")

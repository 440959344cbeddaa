"""audience manager segments in Target's audience list; profile merge rules per data source

Revision ID: 0015_dmp_targeting
Revises: 0012_dmp
Depends on: 0002_catalog (the audiences table)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_dmp_targeting"
down_revision: str | None = "0012_dmp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0002_catalog"


def upgrade() -> None:
    with op.batch_alter_table("audiences", schema=None) as batch:
        batch.add_column(
            sa.Column("origin", sa.String(length=16), nullable=False, server_default="target")
        )
        batch.add_column(sa.Column("segment_id", sa.Integer(), nullable=True))
        batch.create_index(
            batch.f("ix_audiences_tenant_segment"), ["tenant_id", "segment_id"], unique=True
        )
    with op.batch_alter_table("dmp_data_sources", schema=None) as batch:
        batch.add_column(
            sa.Column(
                "merge_rule", sa.String(length=32), nullable=False, server_default="DEVICE_ONLY"
            )
        )
    # Segments created before this revision get their read-only audience in the tenant's
    # default workspace, as new ones do (cible.dmp.audiences).
    op.execute(
        """
        INSERT INTO audiences (tenant_id, workspace_id, name, description, target_rule,
                               created_at, modified_at, modified_by, origin, segment_id)
        SELECT s.tenant_id, w.id, s.name, s.description,
               '{"segments":"ids","contains":["' || s.id || '"]}',
               s.create_time, s.update_time, 'aam-integration', 'cloud', s.id
        FROM dmp_segments s
        JOIN workspaces w ON w.tenant_id = s.tenant_id AND w.is_default
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM audiences WHERE segment_id IS NOT NULL")
    with op.batch_alter_table("dmp_data_sources", schema=None) as batch:
        batch.drop_column("merge_rule")
    with op.batch_alter_table("audiences", schema=None) as batch:
        batch.drop_index(batch.f("ix_audiences_tenant_segment"))
        batch.drop_column("segment_id")
        batch.drop_column("origin")

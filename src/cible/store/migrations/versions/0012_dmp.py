"""audience manager: data sources, folders, traits, segments, device state, ids, opt-outs

Revision ID: 0012_dmp
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cible.store.base

revision: str = "0012_dmp"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dmp_data_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("integration_code", sa.String(length=255), nullable=True),
        sa.Column("id_type", sa.String(length=32), nullable=False),
        sa.Column("inbound_s2s", sa.Boolean(), nullable=False),
        sa.Column("outbound_s2s", sa.Boolean(), nullable=False),
        sa.Column("share_enabled", sa.Boolean(), nullable=False),
        sa.Column("authenticated_profile", sa.Boolean(), nullable=False),
        sa.Column("unique_trait_integration_codes", sa.Boolean(), nullable=False),
        sa.Column("unique_segment_integration_codes", sa.Boolean(), nullable=False),
        sa.Column("data_export_restrictions", sa.Text(), nullable=False),
        sa.Column("create_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("update_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_data_sources_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_data_sources")),
    )
    op.create_index(
        op.f("ix_dmp_data_sources_tenant_id"), "dmp_data_sources", ["tenant_id"], unique=False
    )
    op.create_table(
        "dmp_device_ids",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("uuid", sa.String(length=38), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_device_ids_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "namespace", "external_id", name=op.f("pk_dmp_device_ids")
        ),
    )
    op.create_index(
        "ix_dmp_device_ids_tenant_uuid", "dmp_device_ids", ["tenant_id", "uuid"], unique=False
    )
    op.create_table(
        "dmp_devices",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=38), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_devices_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "uuid", name=op.f("pk_dmp_devices")),
    )
    op.create_index(op.f("ix_dmp_devices_expires_ms"), "dmp_devices", ["expires_ms"], unique=False)
    op.create_index(
        "ix_dmp_devices_tenant_seen", "dmp_devices", ["tenant_id", "last_seen_ms"], unique=False
    )
    op.create_table(
        "dmp_folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["dmp_folders.id"],
            name=op.f("fk_dmp_folders_parent_id_dmp_folders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_folders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_folders")),
    )
    op.create_index(
        "ix_dmp_folders_tenant_kind", "dmp_folders", ["tenant_id", "kind"], unique=False
    )
    op.create_table(
        "dmp_membership_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=38), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_membership_changes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_membership_changes")),
    )
    op.create_index(
        "ix_dmp_membership_changes_tenant_id",
        "dmp_membership_changes",
        ["tenant_id", "id"],
        unique=False,
    )
    op.create_table(
        "dmp_opt_outs",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_opt_outs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "namespace", "external_id", name=op.f("pk_dmp_opt_outs")
        ),
    )
    op.create_table(
        "dmp_populations",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("uniques", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_populations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "kind", "ref_id", "days", name=op.f("pk_dmp_populations")
        ),
    )
    op.create_table(
        "dmp_rules",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_dmp_rules")),
    )
    op.create_table(
        "dmp_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("segment_rule", sa.Text(), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("merge_rule_data_source_id", sa.Integer(), nullable=True),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("integration_code", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("create_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("update_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["dmp_data_sources.id"],
            name=op.f("fk_dmp_segments_data_source_id_dmp_data_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["dmp_folders.id"],
            name=op.f("fk_dmp_segments_folder_id_dmp_folders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_segments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_segments")),
    )
    op.create_index(
        "ix_dmp_segments_tenant_folder", "dmp_segments", ["tenant_id", "folder_id"], unique=False
    )
    op.create_table(
        "dmp_traits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.Column("trait_type", sa.String(length=32), nullable=False),
        sa.Column("trait_rule", sa.Text(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("integration_code", sa.String(length=255), nullable=True),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("create_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("update_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["dmp_data_sources.id"],
            name=op.f("fk_dmp_traits_data_source_id_dmp_data_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["dmp_folders.id"],
            name=op.f("fk_dmp_traits_folder_id_dmp_folders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dmp_traits_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmp_traits")),
    )
    op.create_index(
        "ix_dmp_traits_tenant_folder", "dmp_traits", ["tenant_id", "folder_id"], unique=False
    )
    op.create_table(
        "dmp_trait_rule_versions",
        sa.Column("trait_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trait_rule", sa.Text(), nullable=False),
        sa.Column("create_time", cible.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trait_id"],
            ["dmp_traits.id"],
            name=op.f("fk_dmp_trait_rule_versions_trait_id_dmp_traits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trait_id", "version", name=op.f("pk_dmp_trait_rule_versions")),
    )


def downgrade() -> None:
    op.drop_table("dmp_trait_rule_versions")
    op.drop_index("ix_dmp_traits_tenant_folder", table_name="dmp_traits")
    op.drop_table("dmp_traits")
    op.drop_index("ix_dmp_segments_tenant_folder", table_name="dmp_segments")
    op.drop_table("dmp_segments")
    op.drop_table("dmp_rules")
    op.drop_table("dmp_populations")
    op.drop_table("dmp_opt_outs")
    op.drop_index("ix_dmp_membership_changes_tenant_id", table_name="dmp_membership_changes")
    op.drop_table("dmp_membership_changes")
    op.drop_index("ix_dmp_folders_tenant_kind", table_name="dmp_folders")
    op.drop_table("dmp_folders")
    op.drop_index("ix_dmp_devices_tenant_seen", table_name="dmp_devices")
    op.drop_index(op.f("ix_dmp_devices_expires_ms"), table_name="dmp_devices")
    op.drop_table("dmp_devices")
    op.drop_index("ix_dmp_device_ids_tenant_uuid", table_name="dmp_device_ids")
    op.drop_table("dmp_device_ids")
    op.drop_index(op.f("ix_dmp_data_sources_tenant_id"), table_name="dmp_data_sources")
    op.drop_table("dmp_data_sources")

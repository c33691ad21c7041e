"""snapshots: tenants' images built from a Dockerfile by jobs; jobs and sandboxes that name one

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("dockerfile", sa.Text(), nullable=False),
        sa.Column("dockerfile_sha256", sa.String(64), nullable=False),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("image_ref", sa.String(300), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pushed", sa.Boolean(), nullable=False),
        sa.Column("entrypoint", postgresql.JSONB(), nullable=True),
        sa.Column("cpus", sa.Float(), nullable=True),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("disk_bytes", sa.BigInteger(), nullable=True),
        sa.Column("image_id", sa.String(100), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("build_log", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_snapshots_tenant_seq", "snapshots", ["tenant_id", sa.text("seq DESC")])
    op.create_index(
        "uq_snapshots_tenant_name",
        "snapshots",
        ["tenant_id", "name"],
        unique=True,
        postgresql_where=sa.text("state <> 'deleted'"),
    )
    op.add_column(
        "jobs", sa.Column("snapshot_id", sa.Uuid(), sa.ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=True)
    )
    op.create_index("ix_jobs_snapshot_id", "jobs", ["snapshot_id"])
    op.add_column(
        "sandboxes",
        sa.Column("snapshot_id", sa.Uuid(), sa.ForeignKey("snapshots.id", ondelete="SET NULL"), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("sandboxes", "snapshot_id")
    op.drop_index("ix_jobs_snapshot_id", table_name="jobs")
    op.drop_column("jobs", "snapshot_id")
    op.drop_table("snapshots")

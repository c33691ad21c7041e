"""sandboxes, sandbox jobs and blobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:29:05.889711
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_blobs_tenant_id"), "blobs", ["tenant_id"], unique=False)
    op.create_table(
        "sandboxes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("protocol", sa.String(length=20), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("image", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("container_id", sa.String(length=100), nullable=True),
        sa.Column("volume", sa.String(length=200), nullable=True),
        sa.Column("env", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("labels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cpus", sa.Float(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("disk_bytes", sa.BigInteger(), nullable=False),
        sa.Column("network", sa.Boolean(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("auto_stop_s", sa.Integer(), nullable=False),
        sa.Column("auto_delete_s", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sandboxes_host_state", "sandboxes", ["host", "state"], unique=False)
    op.create_index("ix_sandboxes_tenant_seq", "sandboxes", ["tenant_id", sa.literal_column("seq DESC")], unique=False)
    op.create_index(
        "uq_sandboxes_tenant_name",
        "sandboxes",
        ["tenant_id", "name"],
        unique=True,
        postgresql_where=sa.text("state <> 'deleted'"),
    )
    op.create_table(
        "blob_chunks",
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("blob_id", "seq"),
    )
    op.add_column("jobs", sa.Column("sandbox_id", sa.Uuid(), nullable=True))
    op.add_column("jobs", sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("jobs", sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("jobs", sa.Column("timeout_ms", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_jobs_sandbox_id"), "jobs", ["sandbox_id"], unique=False)
    op.create_foreign_key("fk_jobs_sandbox_id", "jobs", "sandboxes", ["sandbox_id"], ["id"], ondelete="CASCADE")
    op.add_column("tenants", sa.Column("max_sandboxes", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "max_sandboxes")
    op.drop_constraint("fk_jobs_sandbox_id", "jobs", type_="foreignkey")
    op.drop_index(op.f("ix_jobs_sandbox_id"), table_name="jobs")
    op.drop_column("jobs", "timeout_ms")
    op.drop_column("jobs", "result")
    op.drop_column("jobs", "payload")
    op.drop_column("jobs", "sandbox_id")
    op.drop_table("blob_chunks")
    op.drop_index("uq_sandboxes_tenant_name", table_name="sandboxes", postgresql_where=sa.text("state <> 'deleted'"))
    op.drop_index("ix_sandboxes_tenant_seq", table_name="sandboxes")
    op.drop_index("ix_sandboxes_host_state", table_name="sandboxes")
    op.drop_table("sandboxes")
    op.drop_index(op.f("ix_blobs_tenant_id"), table_name="blobs")
    op.drop_table("blobs")

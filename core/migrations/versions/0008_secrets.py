"""secrets: a tenant's values, encrypted at rest; the secrets a sandbox's environment takes; the key that
signs a sandbox's file links

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hosts", postgresql.JSONB(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_secrets_tenant_name"),
    )
    # Environment variable -> secret name: the secrets this sandbox's processes get.
    op.add_column(
        "sandboxes",
        sa.Column("secrets", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )
    # Signs Daytona's file links (download_url, upload_url); made when first asked for.
    op.add_column("sandboxes", sa.Column("signing_key", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("sandboxes", "signing_key")
    op.drop_column("sandboxes", "secrets")
    op.drop_table("secrets")

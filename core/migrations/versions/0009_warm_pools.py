"""warm pools: ready sandboxes of an image that a tenant asks its hosts to keep

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "warm_pools",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("snapshot", sa.String(300), nullable=False),
        sa.Column("image", sa.String(300), nullable=False),
        # The one host that has the image (a snapshot not pushed to a registry); NULL: every host.
        sa.Column("host", sa.String(200), nullable=True),
        sa.Column("pool", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_warm_pools_tenant", "warm_pools", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("warm_pools")

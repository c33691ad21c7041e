"""sandbox archive flag, archive interval and preview token

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 11:04:40.802864
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sandboxes", sa.Column("archived", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.add_column("sandboxes", sa.Column("auto_archive_s", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("sandboxes", sa.Column("preview_token", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("sandboxes", "preview_token")
    op.drop_column("sandboxes", "auto_archive_s")
    op.drop_column("sandboxes", "archived")

"""a sandbox's auto-pause interval and its time to live

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Seconds idle before the sweep pauses it (0: never), as auto_stop_s stops it.
    op.add_column("sandboxes", sa.Column("auto_pause_s", sa.Integer(), server_default=sa.text("0"), nullable=False))
    # Seconds from its creation until the sweep deletes it, whatever it is doing (0: no limit).
    op.add_column("sandboxes", sa.Column("ttl_s", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("sandboxes", "ttl_s")
    op.drop_column("sandboxes", "auto_pause_s")

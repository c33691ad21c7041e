"""a language's floors: the least of some run limits its runtime needs to start at all

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # RunLimits field -> its least value for this language (the image's languages.json says which and why).
    op.add_column(
        "languages", sa.Column("floors", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("languages", "floors")

"""sandbox egress allow-list; a tenant's own sandbox network setting

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # CIDRs a networked sandbox may reach; NULL: the whole (fenced) internet.
    op.add_column("sandboxes", sa.Column("egress_allow", postgresql.JSONB(), nullable=True))
    # False: this tenant's sandboxes never have network; NULL: the installation's setting.
    op.add_column("tenants", sa.Column("sandbox_network", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "sandbox_network")
    op.drop_column("sandboxes", "egress_allow")

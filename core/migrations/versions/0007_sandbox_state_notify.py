"""sandbox state changes announced with NOTIFY, for the event channel (api/daytona/events.py)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every change of a sandbox's state, whoever makes it (an API, a worker, the sweep), reaches every
# listening API process: a trigger, not a call each writer would have to remember.
FUNCTION = """
CREATE OR REPLACE FUNCTION runyard_sandbox_state_notify() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state OR NEW.archived IS DISTINCT FROM OLD.archived THEN
    PERFORM pg_notify('runyard_sandbox_state', json_build_object(
      'id', NEW.id, 'tenant_id', NEW.tenant_id, 'state', NEW.state, 'archived', NEW.archived,
      'old_state', CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.state END,
      'created', TG_OP = 'INSERT')::text);
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER sandbox_state_notify AFTER INSERT OR UPDATE ON sandboxes "
        "FOR EACH ROW EXECUTE FUNCTION runyard_sandbox_state_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS sandbox_state_notify ON sandboxes")
    op.execute("DROP FUNCTION IF EXISTS runyard_sandbox_state_notify()")

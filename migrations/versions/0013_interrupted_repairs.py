"""interrupted repairs: the `interrupted` status of repairs and of their steps

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPAIR = (
    "'pending_approval', 'queued', 'running', 'succeeded', 'failed', 'blocked', 'rejected', "
    "'expired', 'dry_run', 'no_playbook'"
)
_STEP = "'planned', 'running', 'succeeded', 'failed'"


def _set_checks(repair_statuses: str, step_statuses: str) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a CHECK by rebuilding the table, and dropping the old `repairs` with
        # foreign keys on cascades to repair_steps: keep the steps aside meanwhile.
        op.execute("CREATE TABLE _awoooi_0013_repair_steps AS SELECT * FROM repair_steps")
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.drop_constraint("status", type_="check")
        batch_op.create_check_constraint("status", f"status IN ({repair_statuses})")
    with op.batch_alter_table("repair_steps", schema=None) as batch_op:
        batch_op.drop_constraint("status", type_="check")
        batch_op.create_check_constraint("status", f"status IN ({step_statuses})")
    if sqlite:
        op.execute("DELETE FROM repair_steps")
        op.execute("INSERT INTO repair_steps SELECT * FROM _awoooi_0013_repair_steps")
        op.execute("DROP TABLE _awoooi_0013_repair_steps")


def upgrade() -> None:
    _set_checks(f"{_REPAIR}, 'interrupted'", f"{_STEP}, 'interrupted'")


def downgrade() -> None:
    # The older schema knows no interruption: its closest word is a failure.
    op.execute("UPDATE repair_steps SET status = 'failed' WHERE status = 'interrupted'")
    op.execute("UPDATE repairs SET status = 'failed' WHERE status = 'interrupted'")
    _set_checks(_REPAIR, _STEP)

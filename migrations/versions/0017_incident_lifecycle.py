"""incident lifecycle: the `awaiting_approval` status (incidents and their timeline entries)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "'open', 'diagnosing', 'repairing', 'resolved', 'escalated'"
_NEW = "awaiting_approval"
# `awaiting_approval` is 17 characters: every status column grows to 24.
_OLD_LENGTH, _NEW_LENGTH = 16, 24
# Tables whose rows go with an incident's (ON DELETE CASCADE), parents before children.
_DEPENDENTS = ("incident_alerts", "incident_events", "diagnoses", "repairs", "repair_steps")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _keep_aside() -> None:
    # SQLite changes a CHECK by rebuilding the table, and dropping the old `incidents` cascades
    # to every alert, event, diagnosis and repair, and sets every storm child's parent_id to
    # NULL (the copy's self-reference names `incidents` too): keep them aside meanwhile.
    for table in _DEPENDENTS:  # constant names, no input
        op.execute(f"CREATE TABLE _awoooi_0017_{table} AS SELECT * FROM {table}")  # noqa: S608
    op.execute(
        "CREATE TABLE _awoooi_0017_parents AS "
        "SELECT id, parent_id FROM incidents WHERE parent_id IS NOT NULL"
    )


def _restore() -> None:
    for table in _DEPENDENTS:  # constant names, no input
        op.execute(f"DELETE FROM {table}")  # noqa: S608
        op.execute(f"INSERT INTO {table} SELECT * FROM _awoooi_0017_{table}")  # noqa: S608
        op.execute(f"DROP TABLE _awoooi_0017_{table}")
    op.execute(
        "UPDATE incidents SET parent_id = (SELECT p.parent_id FROM _awoooi_0017_parents p "
        "WHERE p.id = incidents.id) WHERE id IN (SELECT id FROM _awoooi_0017_parents)"
    )
    op.execute("DROP TABLE _awoooi_0017_parents")


def _set_statuses(statuses: str, length: int, previous: int) -> None:
    sqlite = _sqlite()
    if sqlite:
        _keep_aside()
    with op.batch_alter_table("incidents", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint("status", type_="check")
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=previous),
            type_=sa.String(length=length),
            existing_nullable=False,
        )
        batch_op.create_check_constraint("status", f"status IN ({statuses})")
    if sqlite:
        _restore()
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        for column in ("from_status", "to_status"):
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=previous),
                type_=sa.String(length=length),
                existing_nullable=True,
            )


def upgrade() -> None:
    _set_statuses(f"{_STATUSES}, '{_NEW}'", _NEW_LENGTH, _OLD_LENGTH)


def downgrade() -> None:
    # The older schema knows no waiting for an approval: the incident was simply open.
    op.execute("UPDATE incidents SET status = 'open' WHERE status = 'awaiting_approval'")
    op.execute(
        "UPDATE incident_events SET from_status = 'open' WHERE from_status = 'awaiting_approval'"
    )
    op.execute(
        "UPDATE incident_events SET to_status = 'open' WHERE to_status = 'awaiting_approval'"
    )
    _set_statuses(_STATUSES, _OLD_LENGTH, _NEW_LENGTH)

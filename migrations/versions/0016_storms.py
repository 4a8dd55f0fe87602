"""storms: incidents may be children of a storm incident; jobs have a claim priority

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KIND_CHECK = "kind IN ('incident', 'storm')"
_FK = "fk_incidents_parent_id_incidents"
# Tables whose rows go with an incident's (ON DELETE CASCADE), parents before children.
_DEPENDENTS = ("incident_alerts", "incident_events", "diagnoses", "repairs", "repair_steps")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _keep_dependents_aside() -> None:
    # SQLite adds a foreign key only by rebuilding the table, and dropping the old `incidents`
    # cascades to every alert, event, diagnosis and repair: keep them aside meanwhile.
    for table in _DEPENDENTS:  # constant names, no input
        op.execute(f"CREATE TABLE _awoooi_0016_{table} AS SELECT * FROM {table}")  # noqa: S608


def _restore_dependents() -> None:
    for table in _DEPENDENTS:  # constant names, no input
        op.execute(f"DELETE FROM {table}")  # noqa: S608
        op.execute(f"INSERT INTO {table} SELECT * FROM _awoooi_0016_{table}")  # noqa: S608
        op.execute(f"DROP TABLE _awoooi_0016_{table}")


def upgrade() -> None:
    sqlite = _sqlite()
    if sqlite:
        _keep_dependents_aside()
    with op.batch_alter_table("incidents", schema=None, recreate="auto") as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="incident", nullable=False)
        )
        batch_op.add_column(sa.Column("node", sa.String(length=253), nullable=True))
        batch_op.create_foreign_key(_FK, "incidents", ["parent_id"], ["id"], ondelete="SET NULL")
        batch_op.create_check_constraint("kind", _KIND_CHECK)
        batch_op.create_index("ix_incidents_parent_id", ["parent_id"], unique=False)
        batch_op.create_index(
            "ix_incidents_namespace_created", ["namespace", "created_at"], unique=False
        )
        batch_op.create_index("ix_incidents_node_created", ["node", "created_at"], unique=False)
    if sqlite:
        _restore_dependents()
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(
            "ix_jobs_claim_priority", ["status", "priority", "run_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claim_priority")
        batch_op.drop_column("priority")
    sqlite = _sqlite()
    if sqlite:
        _keep_dependents_aside()
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_node_created")
        batch_op.drop_index("ix_incidents_namespace_created")
        batch_op.drop_index("ix_incidents_parent_id")
        batch_op.drop_constraint("kind", type_="check")
        batch_op.drop_constraint(_FK, type_="foreignkey")
        for column in ("node", "kind", "parent_id"):
            batch_op.drop_column(column)
    if sqlite:
        _restore_dependents()

"""repairs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:13:34.152616
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("playbook_id", sa.String(length=64), nullable=True),
        sa.Column("playbook_name", sa.String(length=200), nullable=True),
        sa.Column("playbook_digest", sa.String(length=16), nullable=True),
        sa.Column("target", sa.String(length=600), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("gate", sa.String(length=32), nullable=True),
        sa.Column(
            "reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("risk", sa.String(length=8), nullable=True),
        sa.Column("symptoms_hash", sa.String(length=16), nullable=False),
        sa.Column("anti_pattern_id", sa.Integer(), nullable=True),
        sa.Column("plan", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("execution_ms", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'queued', 'running', 'succeeded', 'failed', 'blocked', 'rejected', 'expired', 'dry_run', 'no_playbook')",
            name=op.f("ck_repairs_status"),
        ),
        sa.CheckConstraint(
            "verdict IN ('AUTO', 'NEEDS_APPROVAL', 'BLOCKED', 'NO_PLAYBOOK')",
            name=op.f("ck_repairs_verdict"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_repairs_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repairs")),
    )
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.create_index("ix_repairs_incident", ["incident_id", "playbook_id"], unique=False)
        batch_op.create_index("ix_repairs_status", ["status"], unique=False)
        batch_op.create_index("ix_repairs_target_finished", ["target", "finished_at"], unique=False)
        batch_op.create_index("ix_repairs_target_started", ["target", "started_at"], unique=False)
        batch_op.create_index(
            "uq_repairs_running_target",
            ["target"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "repair_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repair_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column(
            "params", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('planned', 'running', 'succeeded', 'failed')",
            name=op.f("ck_repair_steps_status"),
        ),
        sa.ForeignKeyConstraint(
            ["repair_id"],
            ["repairs.id"],
            name=op.f("fk_repair_steps_repair_id_repairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_steps")),
        sa.UniqueConstraint("repair_id", "position", name="uq_repair_steps_position"),
    )


def downgrade() -> None:
    op.drop_table("repair_steps")
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_repairs_running_target",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index("ix_repairs_target_started")
        batch_op.drop_index("ix_repairs_target_finished")
        batch_op.drop_index("ix_repairs_status")
        batch_op.drop_index("ix_repairs_incident")

    op.drop_table("repairs")

"""diagnoses: stored diagnoses with target, findings and evidence; the finding a repair acted on

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_CAUSES = "'OOM_KILLED', 'APP_CRASH', 'DEPENDENCY_FAILURE', 'CONFIG_MISSING', 'IMAGE_PULL', 'BAD_ROLLOUT', 'PROBE_FAILURE', 'UNSCHEDULABLE_RESOURCES', 'UNSCHEDULABLE_CONSTRAINTS', 'VOLUME', 'NODE_PRESSURE', 'NODE_NOT_READY', 'HPA_MAXED', 'QUOTA_EXCEEDED', 'JOB_FAILED', 'UNKNOWN'"


def upgrade() -> None:
    op.create_table(
        "diagnoses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("made_by", sa.String(length=8), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("target_kind", sa.String(length=32), nullable=False),
        sa.Column("target_namespace", sa.String(length=253), nullable=False),
        sa.Column("target_name", sa.String(length=253), nullable=False),
        sa.Column("target_resolved", sa.Boolean(), nullable=False),
        sa.Column("findings", _JSON, nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("answer", _JSON, nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("made_by IN ('model', 'rules')", name=op.f("ck_diagnoses_made_by")),
        sa.CheckConstraint(f"cause IN ({_CAUSES})", name=op.f("ck_diagnoses_cause")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_diagnoses_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diagnoses")),
    )
    with op.batch_alter_table("diagnoses", schema=None) as batch_op:
        batch_op.create_index("ix_diagnoses_incident", ["incident_id", "id"], unique=False)
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        # The diagnosis finding a cause-matched playbook acted on (NULL: matched on the alert).
        batch_op.add_column(sa.Column("finding", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.drop_column("finding")
    with op.batch_alter_table("diagnoses", schema=None) as batch_op:
        batch_op.drop_index("ix_diagnoses_incident")
    op.drop_table("diagnoses")

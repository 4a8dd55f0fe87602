"""drift reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 22:55:21.001719
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("desired_source", sa.String(length=2048), nullable=False),
        sa.Column("live_source", sa.String(length=2048), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "summary", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "problems", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_reports")),
    )
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.create_index("ix_drift_reports_started_at", ["started_at"], unique=False)

    op.create_table(
        "drift_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("api_version", sa.String(length=253), nullable=False),
        sa.Column("kind", sa.String(length=253), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=True),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column(
            "desired", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("live", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("ignored", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source_file", sa.String(length=2048), nullable=True),
        sa.Column("document_index", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "change IN ('modified', 'added', 'removed', 'missing', 'extra')",
            name=op.f("ck_drift_items_change"),
        ),
        sa.CheckConstraint(
            "level IN ('critical', 'high', 'medium', 'low', 'info')",
            name=op.f("ck_drift_items_level"),
        ),
        sa.CheckConstraint(
            "status IN ('DETECTED', 'ROLLED_BACK', 'ADOPTED', 'IGNORED')",
            name=op.f("ck_drift_items_status"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["drift_reports.id"],
            name=op.f("fk_drift_items_report_id_drift_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_items")),
    )
    with op.batch_alter_table("drift_items", schema=None) as batch_op:
        batch_op.create_index("ix_drift_items_report", ["report_id"], unique=False)
        batch_op.create_index(
            "ix_drift_items_resource", ["kind", "namespace", "name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("drift_items", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_items_resource")
        batch_op.drop_index("ix_drift_items_report")

    op.drop_table("drift_items")
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_reports_started_at")

    op.drop_table("drift_reports")

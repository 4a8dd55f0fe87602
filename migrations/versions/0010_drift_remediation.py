"""drift remediation: report status and sources, item decisions, ignore rules

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_REPORT_STATUSES = (
    "'QUEUED', 'FAILED', 'IN_SYNC', 'DETECTED', 'ROLLED_BACK', 'ADOPTED', 'IGNORED', 'RESOLVED'"
)


def _rebuilding_reports_on_sqlite() -> bool:
    # SQLite adds a CHECK only by rebuilding the table, and dropping the old `drift_reports`
    # cascades to every drift item (ON DELETE CASCADE): those are kept aside meanwhile.
    if op.get_bind().dialect.name != "sqlite":
        return False
    op.execute("CREATE TABLE _awoooi_0010_drift_items AS SELECT * FROM drift_items")
    return True


def _restore_items() -> None:
    op.execute("DELETE FROM drift_items")
    op.execute("INSERT INTO drift_items SELECT * FROM _awoooi_0010_drift_items")
    op.execute("DROP TABLE _awoooi_0010_drift_items")


def upgrade() -> None:
    items_aside = _rebuilding_reports_on_sqlite()
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        # Reports saved before this revision were all finished scans.
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="DETECTED")
        )
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("desired_ref", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("desired_path", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("live_dump", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("live_context", sa.String(length=253), nullable=True))
        batch_op.add_column(
            sa.Column("interpretations", _JSON, nullable=False, server_default="[]")
        )
        batch_op.create_check_constraint("status", f"status IN ({_REPORT_STATUSES})")
        batch_op.create_index("ix_drift_reports_status", ["status"], unique=False)
    if items_aside:
        _restore_items()

    with op.batch_alter_table("drift_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("path_segments", _JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("status_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("status_detail", _JSON, nullable=False, server_default="{}"))

    op.create_table(
        "drift_ignore_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=253), nullable=False),
        sa.Column("group", sa.String(length=253), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["drift_items.id"],
            name=op.f("fk_drift_ignore_rules_item_id_drift_items"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_ignore_rules")),
    )


def downgrade() -> None:
    op.drop_table("drift_ignore_rules")
    with op.batch_alter_table("drift_items", schema=None) as batch_op:
        batch_op.drop_column("status_detail")
        batch_op.drop_column("status_at")
        batch_op.drop_column("status_by")
        batch_op.drop_column("path_segments")
        batch_op.drop_column("item_index")
    items_aside = _rebuilding_reports_on_sqlite()
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_reports_status")
        batch_op.drop_constraint("status", type_="check")
        batch_op.drop_column("interpretations")
        batch_op.drop_column("live_context")
        batch_op.drop_column("live_dump")
        batch_op.drop_column("desired_path")
        batch_op.drop_column("desired_ref")
        batch_op.drop_column("error")
        batch_op.drop_column("status")
    if items_aside:
        _restore_items()

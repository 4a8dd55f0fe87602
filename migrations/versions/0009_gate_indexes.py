"""gate indexes: id closes the anti-pattern index; (target, status) for the busy gate

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 23:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = {
    "postgresql_where": sa.text("symptoms_hash IS NOT NULL"),
    "sqlite_where": sa.text("symptoms_hash IS NOT NULL"),
}


def upgrade() -> None:
    with op.batch_alter_table("knowledge_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_entries_anti_pattern", **_WHERE)
        batch_op.create_index(
            "ix_knowledge_entries_anti_pattern",
            ["symptoms_hash", "entry_type", "status", "published_at", "id"],
            unique=False,
            **_WHERE,
        )
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.create_index("ix_repairs_target_status", ["target", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.drop_index("ix_repairs_target_status")
    with op.batch_alter_table("knowledge_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_entries_anti_pattern", **_WHERE)
        batch_op.create_index(
            "ix_knowledge_entries_anti_pattern",
            ["symptoms_hash", "entry_type", "status", "published_at"],
            unique=False,
            **_WHERE,
        )

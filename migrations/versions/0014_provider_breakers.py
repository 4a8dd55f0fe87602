"""provider breakers: each provider's circuit breaker, shared by every replica

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_breakers",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probing_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_provider_breakers_failures")),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_breakers")),
    )


def downgrade() -> None:
    op.drop_table("provider_breakers")

"""knowledge base

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 20:57:32.768940
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Full-text search, by hand (no model describes it; see awoooi.core.migrate.include_name).
# PostgreSQL: a weighted tsvector kept by the database itself, with a GIN index.
POSTGRESQL_SEARCH = (
    """
    ALTER TABLE knowledge_entries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(tags::text, '')), 'B')
        || setweight(to_tsvector('simple', coalesce(content, '')), 'C')
    ) STORED
    """,
    "CREATE INDEX ix_knowledge_entries_search ON knowledge_entries USING GIN (search_vector)",
)
# SQLite: an FTS5 index over the entries table (external content), kept in step by triggers.
SQLITE_SEARCH = (
    """
    CREATE VIRTUAL TABLE knowledge_fts USING fts5(
        title, content, tags, content='knowledge_entries', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER knowledge_fts_ai AFTER INSERT ON knowledge_entries BEGIN
        INSERT INTO knowledge_fts(rowid, title, content, tags)
        VALUES (new.id, new.title, new.content, new.tags);
    END
    """,
    """
    CREATE TRIGGER knowledge_fts_ad AFTER DELETE ON knowledge_entries BEGIN
        INSERT INTO knowledge_fts(knowledge_fts, rowid, title, content, tags)
        VALUES ('delete', old.id, old.title, old.content, old.tags);
    END
    """,
    """
    CREATE TRIGGER knowledge_fts_au AFTER UPDATE OF title, content, tags ON knowledge_entries
    BEGIN
        INSERT INTO knowledge_fts(knowledge_fts, rowid, title, content, tags)
        VALUES ('delete', old.id, old.title, old.content, old.tags);
        INSERT INTO knowledge_fts(rowid, title, content, tags)
        VALUES (new.id, new.title, new.content, new.tags);
    END
    """,
)


def upgrade() -> None:
    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("entry_type", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column(
            "services", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("related_incident_id", sa.String(length=32), nullable=True),
        sa.Column("related_playbook_id", sa.String(length=64), nullable=True),
        sa.Column("symptoms_hash", sa.String(length=16), nullable=True),
        sa.Column("harvest_key", sa.String(length=128), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("reviewed_by", sa.String(length=128), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "entry_type IN ('RUNBOOK', 'AUTO_RUNBOOK', 'ANTI_PATTERN', 'POSTMORTEM', 'REFERENCE')",
            name=op.f("ck_knowledge_entries_entry_type"),
        ),
        sa.CheckConstraint(
            "source <> 'AI_EXTRACTED' OR entry_type = 'ANTI_PATTERN' OR status <> 'PUBLISHED' OR reviewed_by IS NOT NULL",
            name=op.f("ck_knowledge_entries_ai_published_reviewed"),
        ),
        sa.CheckConstraint(
            "source IN ('MANUAL', 'AI_EXTRACTED', 'IMPORTED')",
            name=op.f("ck_knowledge_entries_source"),
        ),
        sa.CheckConstraint(
            "status IN ('DRAFT', 'PUBLISHED', 'REJECTED', 'ARCHIVED')",
            name=op.f("ck_knowledge_entries_status"),
        ),
        sa.CheckConstraint(
            "symptoms_hash IS NULL OR (length(symptoms_hash) = 16 AND replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(symptoms_hash, '0', ''), '1', ''), '2', ''), '3', ''), '4', ''), '5', ''), '6', ''), '7', ''), '8', ''), '9', ''), 'a', ''), 'b', ''), 'c', ''), 'd', ''), 'e', ''), 'f', '') = '')",
            name=op.f("ck_knowledge_entries_symptoms_hash_shape"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entries")),
        sa.UniqueConstraint("harvest_key", name=op.f("uq_knowledge_entries_harvest_key")),
        sa.UniqueConstraint("uid", name=op.f("uq_knowledge_entries_uid")),
    )
    with op.batch_alter_table("knowledge_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_knowledge_entries_anti_pattern",
            ["symptoms_hash", "entry_type", "status", "published_at"],
            unique=False,
            postgresql_where=sa.text("symptoms_hash IS NOT NULL"),
            sqlite_where=sa.text("symptoms_hash IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_knowledge_entries_status_type", ["status", "entry_type"], unique=False
        )
        batch_op.create_index("ix_knowledge_entries_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "knowledge_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column(
            "services", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("edited_by", sa.String(length=128), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["knowledge_entries.id"],
            name=op.f("fk_knowledge_versions_entry_id_knowledge_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_versions")),
        sa.UniqueConstraint("entry_id", "version", name="uq_knowledge_versions_entry"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_SEARCH:
            op.execute(statement)
    else:
        for statement in SQLITE_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_knowledge_entries_search")
        op.execute("ALTER TABLE knowledge_entries DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("knowledge_fts_ai", "knowledge_fts_ad", "knowledge_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS knowledge_fts")
    op.drop_table("knowledge_versions")
    with op.batch_alter_table("knowledge_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_entries_updated_at")
        batch_op.drop_index("ix_knowledge_entries_status_type")
        batch_op.drop_index(
            "ix_knowledge_entries_anti_pattern",
            postgresql_where=sa.text("symptoms_hash IS NOT NULL"),
            sqlite_where=sa.text("symptoms_hash IS NOT NULL"),
        )

    op.drop_table("knowledge_entries")

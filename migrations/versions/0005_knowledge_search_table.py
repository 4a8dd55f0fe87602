"""knowledge search: PostgreSQL keeps the search vectors in a narrow side table

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 21:45:00

Ranking reads every match's vector; kept in the wide entries rows (beside the Markdown), that
meant one heap page per match. A narrow table packs many vectors per page. SQLite is unchanged
(its FTS5 index already lives apart from the entries).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    """
    CREATE TABLE knowledge_search (
        entry_id integer PRIMARY KEY REFERENCES knowledge_entries (id) ON DELETE CASCADE,
        search_vector tsvector NOT NULL
    )
    """,
    "INSERT INTO knowledge_search (entry_id, search_vector) "
    "SELECT id, search_vector FROM knowledge_entries",
    "CREATE INDEX ix_knowledge_search_vector ON knowledge_search USING GIN (search_vector)",
    """
    CREATE FUNCTION knowledge_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO knowledge_search (entry_id, search_vector) VALUES (
            NEW.id,
            setweight(to_tsvector('simple', coalesce(NEW.title, '')), 'A')
            || setweight(to_tsvector('simple', coalesce(NEW.tags::text, '')), 'B')
            || setweight(to_tsvector('simple', coalesce(NEW.content, '')), 'C')
        )
        ON CONFLICT (entry_id) DO UPDATE SET search_vector = EXCLUDED.search_vector;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER knowledge_search_sync
    AFTER INSERT OR UPDATE OF title, content, tags ON knowledge_entries
    FOR EACH ROW EXECUTE FUNCTION knowledge_search_sync()
    """,
    "DROP INDEX ix_knowledge_entries_search",
    "ALTER TABLE knowledge_entries DROP COLUMN search_vector",
)

DOWNGRADE = (
    "DROP TRIGGER knowledge_search_sync ON knowledge_entries",
    "DROP FUNCTION knowledge_search_sync()",
    """
    ALTER TABLE knowledge_entries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(tags::text, '')), 'B')
        || setweight(to_tsvector('simple', coalesce(content, '')), 'C')
    ) STORED
    """,
    "CREATE INDEX ix_knowledge_entries_search ON knowledge_entries USING GIN (search_vector)",
    "DROP TABLE knowledge_search",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)

"""Knowledge entries (runbooks, anti-patterns ...), their earlier versions, and the search index."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from awoooi.core.db import Base, EnumText, JSONType, UTCDateTime, enum_check, utcnow


class EntryType(StrEnum):
    """What kind of knowledge an entry is."""

    RUNBOOK = "RUNBOOK"
    AUTO_RUNBOOK = "AUTO_RUNBOOK"
    ANTI_PATTERN = "ANTI_PATTERN"
    POSTMORTEM = "POSTMORTEM"
    REFERENCE = "REFERENCE"


class EntrySource(StrEnum):
    """Where an entry came from."""

    MANUAL = "MANUAL"
    AI_EXTRACTED = "AI_EXTRACTED"
    IMPORTED = "IMPORTED"


class EntryStatus(StrEnum):
    """Review state: DRAFT -> PUBLISHED | REJECTED; anything -> ARCHIVED."""

    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    REJECTED = "REJECTED"
    ARCHIVED = "ARCHIVED"


class KnowledgeEntry(Base):
    """One piece of knowledge; `version` counts edits, older versions live in KnowledgeVersion."""

    __tablename__ = "knowledge_entries"
    __table_args__ = (
        CheckConstraint(enum_check("entry_type", EntryType), name="entry_type"),
        CheckConstraint(enum_check("source", EntrySource), name="source"),
        CheckConstraint(enum_check("status", EntryStatus), name="status"),
        # The model may publish warnings (anti-patterns) on its own; anything else it writes
        # is PUBLISHED only after a human reviewed it.
        CheckConstraint(
            "source <> 'AI_EXTRACTED' OR entry_type = 'ANTI_PATTERN' OR status <> 'PUBLISHED' "
            "OR reviewed_by IS NOT NULL",
            name="ai_published_reviewed",
        ),
        # 16 lowercase hex characters, written without dialect-specific regex support.
        CheckConstraint(
            "symptoms_hash IS NULL OR (length(symptoms_hash) = 16 AND "
            + "".join("replace(" for _ in "0123456789abcdef")
            + "symptoms_hash"
            + "".join(f", '{c}', '')" for c in "0123456789abcdef")
            + " = '')",
            name="symptoms_hash_shape",
        ),
        Index(
            "ix_knowledge_entries_anti_pattern",
            "symptoms_hash",
            "entry_type",
            "status",
            "published_at",
            # The gate orders by (published_at, id): with id in the index a cached (generic)
            # PostgreSQL plan reads one row instead of every anti-pattern of the hash.
            "id",
            postgresql_where=text("symptoms_hash IS NOT NULL"),
            sqlite_where=text("symptoms_hash IS NOT NULL"),
        ),
        Index("ix_knowledge_entries_status_type", "status", "entry_type"),
        Index("ix_knowledge_entries_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    entry_type: Mapped[EntryType] = mapped_column(EnumText(EntryType, 16))
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    source: Mapped[EntrySource] = mapped_column(EnumText(EntrySource, 16))
    status: Mapped[EntryStatus] = mapped_column(EnumText(EntryStatus, 16))
    related_incident_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    related_playbook_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    symptoms_hash: Mapped[str | None] = mapped_column(String(16), nullable=True)
    harvest_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    reviewed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KnowledgeVersion(Base):
    """An entry as it was before an edit."""

    __tablename__ = "knowledge_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_knowledge_versions_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("knowledge_entries.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    edited_by: Mapped[str] = mapped_column(String(128))
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

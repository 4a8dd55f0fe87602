"""Foundation tables: API tokens, the audit log and durable jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from awoooi.core.db import Base, EnumText, JSONType, UTCDateTime, utcnow


class Role(StrEnum):
    """API roles, weakest first; `ingest` may only post alerts."""

    VIEWER = "viewer"
    INGEST = "ingest"
    OPERATOR = "operator"
    ADMIN = "admin"


class JobStatus(StrEnum):
    """Lifecycle of a durable job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class Door(StrEnum):
    """Where a request entered awoooi."""

    API = "api"
    CLI = "cli"
    TELEGRAM = "telegram"
    CONSOLE = "console"
    SYSTEM = "system"


class Outcome(StrEnum):
    """How an audited decision ended."""

    OK = "ok"
    PARTIAL = "partial"
    REFUSED = "refused"
    NO_OP = "no-op"


class ApiToken(Base):
    """An API credential; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'ingest', 'operator', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(EnumText(Role, 16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """One mutation: who did what to which target, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    # api | cli | telegram | console | system; None on entries written before revision 0011.
    door: Mapped[Door | None] = mapped_column(EnumText(Door, 16), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[Outcome] = mapped_column(EnumText(Outcome, 32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Job(Base):
    """A unit of background work, claimed under a lease and retried with backoff."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "status", "run_at"),
        # Retention finds done and dead jobs by when they finished.
        Index("ix_jobs_status_finished_at", "status", "finished_at"),
        # Workers claim the most urgent ready job first, then the oldest.
        Index("ix_jobs_claim_priority", "status", "priority", "run_at"),
        CheckConstraint("status IN ('queued', 'running', 'done', 'dead')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[JobStatus] = mapped_column(EnumText(JobStatus, 16), default=JobStatus.QUEUED)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    # Higher runs first among ready jobs (e.g. the diagnosis of a critical incident).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # NULL: the worker's configured jobs.max_attempts applies.
    max_attempts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WriteLock(Base):
    """Empty on purpose: on SQLite a no-op UPDATE of it takes the write lock (see locks.py)."""

    __tablename__ = "write_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)

"""Repairs: every decision with its reasons, and the steps of the ones that ran."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from awoooi.core.db import Base, EnumText, JSONType, UTCDateTime, enum_check, utcnow


class Verdict(StrEnum):
    """What `decide()` concluded."""

    AUTO = "AUTO"
    NEEDS_APPROVAL = "NEEDS_APPROVAL"
    BLOCKED = "BLOCKED"
    NO_PLAYBOOK = "NO_PLAYBOOK"


class RepairStatus(StrEnum):
    """Where a repair is in its life."""

    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # A restart cut a step with side effects short: its effect is unknown, a human decides.
    INTERRUPTED = "interrupted"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DRY_RUN = "dry_run"
    NO_PLAYBOOK = "no_playbook"


FINISHED_STATUSES = frozenset(
    {
        RepairStatus.SUCCEEDED,
        RepairStatus.FAILED,
        RepairStatus.INTERRUPTED,
        RepairStatus.BLOCKED,
        RepairStatus.REJECTED,
        RepairStatus.EXPIRED,
        RepairStatus.DRY_RUN,
        RepairStatus.NO_PLAYBOOK,
    }
)
# Statuses that hold a target: one at a time per target.
BUSY_STATUSES = (RepairStatus.QUEUED, RepairStatus.RUNNING)


class GateName(StrEnum):
    """The gate (or the reason) that stopped a repair, or made it wait for a human."""

    RESOLVED = "resolved"
    ANTI_PATTERN = "anti_pattern"
    FREEZE = "freeze"
    COOLDOWN = "cooldown"
    RATE_LIMIT = "rate_limit"
    MAX_ATTEMPTS = "max_attempts"
    BUSY = "busy"
    APPROVAL = "approval"
    # At start: the playbook changed or cannot be planned any more since the decision.
    PLAYBOOK = "playbook"
    # The incident is part of a storm: its repair waits for a human.
    STORM = "storm"


class StepStatus(StrEnum):
    """One step's state."""

    PLANNED = "planned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Running when the process died, and not safe to run again.
    INTERRUPTED = "interrupted"


class Repair(Base):
    """One repair decision for an incident, and its execution when it ran."""

    __tablename__ = "repairs"
    __table_args__ = (
        CheckConstraint(enum_check("verdict", Verdict), name="verdict"),
        CheckConstraint(enum_check("status", RepairStatus), name="status"),
        Index("ix_repairs_target_started", "target", "started_at"),
        Index("ix_repairs_target_finished", "target", "finished_at"),
        Index("ix_repairs_incident", "incident_id", "playbook_id"),
        Index("ix_repairs_status", "status"),
        # The one-repair-per-target gate: queued or running repairs on one target.
        Index("ix_repairs_target_status", "target", "status"),
        # The last line of "one repair at a time per target", whatever the code above does.
        Index(
            "uq_repairs_running_target",
            "target",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    playbook_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    playbook_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    playbook_digest: Mapped[str | None] = mapped_column(String(16), nullable=True)
    target: Mapped[str | None] = mapped_column(String(600), nullable=True)
    verdict: Mapped[Verdict] = mapped_column(EnumText(Verdict, 16))
    gate: Mapped[GateName | None] = mapped_column(EnumText(GateName, 32), nullable=True)
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[RepairStatus] = mapped_column(EnumText(RepairStatus, 20))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    risk: Mapped[str | None] = mapped_column(String(8), nullable=True)
    symptoms_hash: Mapped[str] = mapped_column(String(16))
    anti_pattern_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The diagnosis finding a cause-matched playbook acted on (cause, summary, evidence ids).
    finding: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    requested_by: Mapped[str] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    execution_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    success: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    steps: Mapped[list[RepairStep]] = relationship(
        back_populates="repair", order_by="RepairStep.position", lazy="raise"
    )


class RepairStep(Base):
    """One step of a repair as it ran (parameters stored redacted)."""

    __tablename__ = "repair_steps"
    __table_args__ = (
        UniqueConstraint("repair_id", "position", name="uq_repair_steps_position"),
        CheckConstraint(enum_check("status", StepStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repair_id: Mapped[int] = mapped_column(ForeignKey("repairs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[StepStatus] = mapped_column(EnumText(StepStatus, 16))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    repair: Mapped[Repair] = relationship(back_populates="steps", lazy="raise")

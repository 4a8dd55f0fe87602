"""Saved drift reports and their items (`awoooi drift scan --save`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from awoooi.core.db import Base, EnumText, JSONType, UTCDateTime, enum_check, utcnow
from awoooi.drift.report import Change, DriftLevel, DriftStatus, ReportStatus


class DriftReportRecord(Base):
    """One scan."""

    __tablename__ = "drift_reports"
    __table_args__ = (
        CheckConstraint(enum_check("status", ReportStatus), name="status"),
        Index("ix_drift_reports_started_at", "started_at"),
        Index("ix_drift_reports_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    desired_source: Mapped[str] = mapped_column(String(2048))
    live_source: Mapped[str] = mapped_column(String(2048))
    revision: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    summary: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    problems: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    status: Mapped[ReportStatus] = mapped_column(
        EnumText(ReportStatus, 16), default=ReportStatus.DETECTED
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where the scan read from, so rollback and adopt can read the same places again.
    desired_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    desired_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    live_dump: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    live_context: Mapped[str | None] = mapped_column(String(253), nullable=True)
    interpretations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)

    items: Mapped[list[DriftItemRecord]] = relationship(
        back_populates="report", order_by="DriftItemRecord.id", lazy="raise"
    )


class DriftItemRecord(Base):
    """One difference of a saved scan, with what became of it."""

    __tablename__ = "drift_items"
    __table_args__ = (
        CheckConstraint(enum_check("change", Change), name="change"),
        CheckConstraint(enum_check("level", DriftLevel), name="level"),
        CheckConstraint(enum_check("status", DriftStatus), name="status"),
        Index("ix_drift_items_report", "report_id"),
        Index("ix_drift_items_resource", "kind", "namespace", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("drift_reports.id", ondelete="CASCADE"))
    api_version: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str | None] = mapped_column(String(253), nullable=True)
    name: Mapped[str] = mapped_column(String(253))
    change: Mapped[Change] = mapped_column(EnumText(Change, 16))
    path: Mapped[str] = mapped_column(Text)
    desired: Mapped[Any] = mapped_column(JSONType, nullable=True)
    live: Mapped[Any] = mapped_column(JSONType, nullable=True)
    level: Mapped[DriftLevel] = mapped_column(EnumText(DriftLevel, 16))
    ignored: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    source_file: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    document_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    item_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    path_segments: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    status: Mapped[DriftStatus] = mapped_column(
        EnumText(DriftStatus, 16), default=DriftStatus.DETECTED
    )
    status_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status_detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    report: Mapped[DriftReportRecord] = relationship(back_populates="items", lazy="raise")


class DriftIgnoreRule(Base):
    """A whitelist rule added by ignoring an item (merged with `drift.ignore` at scan time)."""

    __tablename__ = "drift_ignore_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(253))
    group: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    path: Mapped[str] = mapped_column(String(1024))
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("drift_items.id", ondelete="SET NULL"), nullable=True
    )

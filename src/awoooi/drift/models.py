"""Saved drift reports and their items (`awoooi drift scan --save`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from awoooi.core.db import Base, JSONType, UTCDateTime, enum_check, utcnow
from awoooi.drift.report import Change, DriftLevel, DriftStatus


class DriftReportRecord(Base):
    """One scan."""

    __tablename__ = "drift_reports"
    __table_args__ = (Index("ix_drift_reports_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    desired_source: Mapped[str] = mapped_column(String(2048))
    live_source: Mapped[str] = mapped_column(String(2048))
    revision: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    summary: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    problems: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(128))

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
    change: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    desired: Mapped[Any] = mapped_column(JSONType, nullable=True)
    live: Mapped[Any] = mapped_column(JSONType, nullable=True)
    level: Mapped[str] = mapped_column(String(16))
    ignored: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    source_file: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    document_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=DriftStatus.DETECTED.value)

    report: Mapped[DriftReportRecord] = relationship(back_populates="items", lazy="raise")

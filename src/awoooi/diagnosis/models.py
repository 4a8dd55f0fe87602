"""Stored diagnoses: one row per run for an incident, with the target, findings and evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from awoooi.core.db import Base, EnumText, JSONType, UTCDateTime, enum_check, utcnow
from awoooi.diagnosis.model import Cause


class DiagnosisRecord(Base):
    """A diagnosis of an incident: who explained it (a model or the rules), the target, the
    findings in order and every piece of evidence they cite (redacted)."""

    __tablename__ = "diagnoses"
    __table_args__ = (
        Index("ix_diagnoses_incident", "incident_id", "id"),
        CheckConstraint("made_by IN ('model', 'rules')", name="made_by"),
        CheckConstraint(enum_check("cause", Cause), name="cause"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    made_by: Mapped[str] = mapped_column(String(8))
    cause: Mapped[Cause | None] = mapped_column(EnumText(Cause, 32), nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_kind: Mapped[str] = mapped_column(String(32))
    target_namespace: Mapped[str] = mapped_column(String(253))
    target_name: Mapped[str] = mapped_column(String(253))
    # Whether the target was found in a cluster (else it is read from the alert's labels).
    target_resolved: Mapped[bool] = mapped_column(default=False)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    answer: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

"""Incidents, the alerts attached to them and their timeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from awoooi.core.db import Base, EnumText, JSONType, UTCDateTime, utcnow


class Severity(StrEnum):
    """Incident severity, most urgent first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class IncidentStatus(StrEnum):
    """open -> diagnosing -> repairing | awaiting_approval | escalated -> resolved."""

    OPEN = "open"
    DIAGNOSING = "diagnosing"
    REPAIRING = "repairing"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    AWAITING_APPROVAL = "awaiting_approval"


# Long enough for every status ("awaiting_approval" is 17 characters).
STATUS_LENGTH = 24


class IncidentKind(StrEnum):
    """An incident of its own alerts, or a storm: the parent of many that came at once."""

    INCIDENT = "incident"
    STORM = "storm"


class AlertStatus(StrEnum):
    """State of one alert as its source last reported it."""

    FIRING = "firing"
    RESOLVED = "resolved"


ACTIVE_STATUSES = (
    IncidentStatus.OPEN,
    IncidentStatus.DIAGNOSING,
    IncidentStatus.REPAIRING,
    IncidentStatus.AWAITING_APPROVAL,
    IncidentStatus.ESCALATED,
)


class Incident(Base):
    """Something wrong in the cluster, built from one or more alerts with the same symptoms."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low', 'info')", name="severity"
        ),
        CheckConstraint(
            "status IN ('open', 'diagnosing', 'repairing', 'resolved', 'escalated', "
            "'awaiting_approval')",
            name="status",
        ),
        CheckConstraint("kind IN ('incident', 'storm')", name="kind"),
        Index("ix_incidents_status_last_seen", "status", "last_seen"),
        Index("ix_incidents_created_at", "created_at"),
        # Retention finds resolved incidents by when they were resolved.
        Index("ix_incidents_status_resolved_at", "status", "resolved_at"),
        # Storm detection counts the new incidents of a namespace or a node within a window.
        Index("ix_incidents_namespace_created", "namespace", "created_at"),
        Index("ix_incidents_node_created", "node", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    human_id: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(512))
    severity: Mapped[Severity] = mapped_column(EnumText(Severity, 16))
    status: Mapped[IncidentStatus] = mapped_column(
        EnumText(IncidentStatus, STATUS_LENGTH), default=IncidentStatus.OPEN
    )
    affected_services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    namespace: Mapped[str | None] = mapped_column(String(253), nullable=True)
    # The node the alert names (`node`, `kubernetes_node` or `nodename` label), for storms.
    node: Mapped[str | None] = mapped_column(String(253), nullable=True)
    kind: Mapped[IncidentKind] = mapped_column(
        EnumText(IncidentKind, 16), default=IncidentKind.INCIDENT, server_default="incident"
    )
    # The storm this incident is a child of.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True, index=True
    )
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    symptoms: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    symptoms_hash: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(32))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    alerts: Mapped[list[IncidentAlert]] = relationship(
        back_populates="incident", order_by="IncidentAlert.id", lazy="raise"
    )
    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident", order_by="IncidentEvent.id", lazy="raise"
    )


class IncidentAlert(Base):
    """One alert (by fingerprint) attached to an incident."""

    __tablename__ = "incident_alerts"
    __table_args__ = (
        UniqueConstraint("incident_id", "fingerprint", name="uq_incident_alerts_incident_fp"),
        CheckConstraint("status IN ('firing', 'resolved')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[AlertStatus] = mapped_column(EnumText(AlertStatus, 16))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    generator_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_count: Mapped[int] = mapped_column(Integer, default=1)
    first_received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="alerts", lazy="raise")


class IncidentEvent(Base):
    """A timeline entry: every state change and grouping, with its actor."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[IncidentStatus | None] = mapped_column(
        EnumText(IncidentStatus, STATUS_LENGTH), nullable=True
    )
    to_status: Mapped[IncidentStatus | None] = mapped_column(
        EnumText(IncidentStatus, STATUS_LENGTH), nullable=True
    )
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="events", lazy="raise")


class IncidentDayCounter(Base):
    """Per-day sequence behind human ids (INC-YYYYMMDD-NNNN)."""

    __tablename__ = "incident_day_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)

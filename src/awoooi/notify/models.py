"""The record of every notification sent or attempted, and of its pressable buttons."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from awoooi.core.db import Base, EnumText, JSONType, UTCDateTime, utcnow
from awoooi.notify.base import Severity


class NotificationStatus(StrEnum):
    """Delivery state of one notification on one channel."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Notification(Base):
    """One message to one channel; retried by its job until sent or dead."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_created_at", "created_at"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[Severity] = mapped_column(EnumText(Severity, 16))
    title: Mapped[str] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    status: Mapped[NotificationStatus] = mapped_column(
        EnumText(NotificationStatus, 16), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class NotifyAction(Base):
    """One pressable button of one notification: what it does, who may press it, until when."""

    __tablename__ = "notify_actions"
    __table_args__ = (Index("ix_notify_actions_notification", "notification_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    allowed_users: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)

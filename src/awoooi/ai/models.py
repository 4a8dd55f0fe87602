"""The LLM call ledger: one row per attempt, never the prompt or the answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from awoooi.ai.intents import Intent
from awoooi.core.db import Base, EnumText, UTCDateTime, utcnow


class LlmCall(Base):
    """One attempt to reach a provider (or a rejection), with its cost and outcome."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    intent: Mapped[Intent] = mapped_column(EnumText(Intent, 32))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    local: Mapped[bool] = mapped_column(default=True)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(16))
    error_class: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ProviderBreaker(Base):
    """A provider's circuit breaker, shared by every replica on the database."""

    __tablename__ = "provider_breakers"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures"),)

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    probing_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

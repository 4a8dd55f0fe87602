"""The AI endpoints' response models: the call ledger, daily totals and provider states."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class LlmCallOut(BaseModel):
    """One recorded call (never its prompt or answer)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    intent: str
    provider: str
    model: str
    local: bool
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_ms: float
    outcome: str
    error_class: str | None


class DailyTotalOut(BaseModel):
    """One provider's day. `calls` are requests a provider answered or failed (`failures`);
    `rejected` are requests no allowed provider could take (the REJECT at the end of a chain),
    on the row of provider `-`: they are not calls and cost nothing."""

    day: str
    provider: str
    calls: int
    failures: int
    rejected: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


class ProviderOut(BaseModel):
    """A provider, its locality and its breaker state."""

    name: str
    kind: str
    model: str
    base_url: str
    local: bool
    breaker: str

"""AI endpoints: the call ledger, daily totals and provider states."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from awoooi.ai import ledger
from awoooi.ai.intents import Intent
from awoooi.api.deps import RuntimeDep, SessionDep, Viewer
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.inputs import Text

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=AuthBeforeBodyRoute)


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


@router.get("/calls", response_model=list[LlmCallOut])
async def get_calls(
    session: SessionDep,
    _principal: Viewer,
    intent: Intent | None = None,
    provider: Annotated[Text | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[LlmCallOut]:
    """Model calls, newest first."""
    calls = await ledger.list_calls(
        session,
        intent=intent.value if intent else None,
        provider=provider,
        limit=limit,
        before_id=before_id,
    )
    return [LlmCallOut.model_validate(call) for call in calls]


@router.get("/calls/daily", response_model=list[DailyTotalOut])
async def get_daily(
    session: SessionDep, _principal: Viewer, days: Annotated[int, Query(ge=1, le=366)] = 7
) -> list[DailyTotalOut]:
    """Calls, failures, rejected requests, tokens and cost per provider per UTC day."""
    totals = await ledger.daily_totals(session, days=days)
    return [DailyTotalOut(**vars(total)) for total in totals]


@router.get("/providers", response_model=list[ProviderOut])
async def get_providers(runtime: RuntimeDep, _principal: Viewer) -> list[ProviderOut]:
    """Configured providers with locality and breaker state (shared by every replica)."""
    return [
        ProviderOut(
            name=p.name,
            kind=p.kind,
            model=p.model,
            base_url=p.base_url,
            local=p.local,
            breaker=p.breaker.value,
        )
        for p in await runtime.ai.providers()
    ]

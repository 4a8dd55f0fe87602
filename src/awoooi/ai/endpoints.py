"""AI endpoints: the call ledger, daily totals and provider states."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from awoooi.ai import ledger
from awoooi.ai.intents import Intent
from awoooi.ai.schemas import DailyTotalOut, LlmCallOut, ProviderOut
from awoooi.api.deps import RuntimeDep, SessionDep, Viewer
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.inputs import MAX_ROW_ID, Text

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=AuthBeforeBodyRoute)


@router.get("/calls", response_model=list[LlmCallOut])
async def get_calls(
    session: SessionDep,
    _principal: Viewer,
    intent: Intent | None = None,
    provider: Annotated[Text | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
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

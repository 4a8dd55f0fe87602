"""Queries over the LLM call ledger; the ledger records and reports, this module reads (and
deletes what retention lets go)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Float, Row, String, case, cast, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.ai.models import LlmCall

# day, provider, calls, failures, tokens in, tokens out, cost (a sum over no rows is NULL).
DailySums = Row[str, str, int, int | None, int | None, int | None, float | None]


async def list_calls(
    session: AsyncSession,
    *,
    intent: str | None,
    provider: str | None,
    limit: int,
    before_id: int | None,
) -> list[LlmCall]:
    """Recorded calls matching the filters, newest first."""
    query = select(LlmCall).order_by(LlmCall.id.desc()).limit(limit)
    if intent is not None:
        query = query.where(LlmCall.intent == intent)
    if provider is not None:
        query = query.where(LlmCall.provider == provider)
    if before_id is not None:
        query = query.where(LlmCall.id < before_id)
    return list(await session.scalars(query))


async def daily_sums(session: AsyncSession, *, since: datetime) -> Sequence[DailySums]:
    """Per UTC day and provider, sums over the calls made since `since`, newest day first."""
    # Skipped calls never reached a provider: they are not counted.
    # Both databases print a UTC timestamp as 'YYYY-MM-DD ...' (PostgreSQL sessions run in UTC).
    day = func.substr(cast(LlmCall.at, String), 1, 10)
    query = (
        select(
            day.label("day"),
            LlmCall.provider,
            func.count(LlmCall.id),
            func.sum(case((LlmCall.outcome == "error", 1), else_=0)),
            func.sum(LlmCall.tokens_in),
            func.sum(LlmCall.tokens_out),
            func.sum(cast(LlmCall.cost_usd, Float)),
        )
        .where(LlmCall.at >= since, LlmCall.outcome != "skipped")
        .group_by(day, LlmCall.provider)
        .order_by(day.desc(), LlmCall.provider)
    )
    return (await session.execute(query)).all()


async def call_ids_before(
    session: AsyncSession, *, before: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of calls made before a time, above `after_id`, in id order."""
    query = (
        select(LlmCall.id)
        .where(LlmCall.at < before, LlmCall.id > after_id)
        .order_by(LlmCall.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def delete_calls(session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete these ledger rows; how many went."""
    result = await session.execute(
        delete(LlmCall).where(LlmCall.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]

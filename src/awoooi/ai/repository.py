"""Queries over the LLM call ledger (and deletes of what retention lets go) and the providers'
shared breaker rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Float, Row, String, case, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.ai.models import LlmCall, ProviderBreaker

# day, provider, calls, failures, rejected, tokens in, tokens out, cost (a sum over no rows is
# NULL).
DailySums = Row[str, str, int | None, int | None, int | None, int | None, int | None, float | None]


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
    # Skipped calls never reached a provider: they are not counted. A rejected request (no
    # provider could answer) is not a call either: it is counted apart, on its own row.
    # Both databases print a UTC timestamp as 'YYYY-MM-DD ...' (PostgreSQL sessions run in UTC).
    day = func.substr(cast(LlmCall.at, String), 1, 10)
    rejected = LlmCall.outcome == "rejected"
    query = (
        select(
            day.label("day"),
            LlmCall.provider,
            func.sum(case((rejected, 0), else_=1)),
            func.sum(case((LlmCall.outcome == "error", 1), else_=0)),
            func.sum(case((rejected, 1), else_=0)),
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


# --------------------------------------------------------------------------- breakers


async def breakers(session: AsyncSession, providers: Sequence[str]) -> list[ProviderBreaker]:
    """The stored breakers of these providers (a provider never failed has none)."""
    query = select(ProviderBreaker).where(ProviderBreaker.provider.in_(list(providers)))
    return list(await session.scalars(query))


async def breaker(session: AsyncSession, provider: str) -> ProviderBreaker | None:
    """One provider's stored breaker, read without a lock."""
    return await session.scalar(select(ProviderBreaker).where(ProviderBreaker.provider == provider))


async def lock_breaker(session: AsyncSession, provider: str) -> ProviderBreaker:
    """The provider's breaker row (made when missing), locked until the transaction ends."""
    # The insert comes first: on SQLite it takes the database's write lock before anything is
    # read; on PostgreSQL it makes sure a row exists for FOR UPDATE to lock.
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        upsert(ProviderBreaker)
        .values(provider=provider, failures=0)
        .on_conflict_do_nothing(index_elements=[ProviderBreaker.provider])
    )
    query = (
        select(ProviderBreaker)
        .where(ProviderBreaker.provider == provider)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).one()

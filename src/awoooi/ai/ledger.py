"""Record every model call (intent, provider, tokens, cost, latency, outcome) and report totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.ai import repository
from awoooi.ai.models import LlmCall
from awoooi.core.db import utcnow
from awoooi.core.logging import get_logger
from awoooi.core.metrics import LLM_CALLS, LLM_COST, LLM_LATENCY, LLM_TOKENS

log = get_logger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """What the router tells the ledger about one attempt."""

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


class CallLedger(Protocol):
    """Where call records go."""

    async def record(self, call: CallRecord) -> None:
        """Store one record; must not raise for storage trouble."""
        ...


def observe(call: CallRecord) -> None:
    """Update the Prometheus series for one call."""
    LLM_CALLS.labels(call.intent, call.provider, call.outcome).inc()
    if call.tokens_in:
        LLM_TOKENS.labels(call.provider, "input").inc(call.tokens_in)
    if call.tokens_out:
        LLM_TOKENS.labels(call.provider, "output").inc(call.tokens_out)
    if call.cost_usd:
        LLM_COST.labels(call.provider).inc(call.cost_usd)
    if call.outcome in {"success", "error"}:
        LLM_LATENCY.labels(call.provider).observe(call.latency_ms / 1000)


class DatabaseLedger:
    """Writes each record in its own short transaction, so it survives the caller's rollback."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory

    async def record(self, call: CallRecord) -> None:
        """Insert the record and update metrics; storage errors are logged, not raised."""
        observe(call)
        try:
            async with self._factory() as session, session.begin():
                session.add(
                    LlmCall(
                        at=utcnow(),
                        intent=call.intent,
                        provider=call.provider[:32],
                        model=call.model[:256],
                        local=call.local,
                        tokens_in=call.tokens_in,
                        tokens_out=call.tokens_out,
                        cost_usd=call.cost_usd,
                        latency_ms=call.latency_ms,
                        outcome=call.outcome,
                        error_class=call.error_class,
                    )
                )
        except Exception:  # the ledger must never break a diagnosis; log.exception keeps it seen
            log.exception("could not record an LLM call", provider=call.provider)


async def list_calls(
    session: AsyncSession,
    *,
    intent: str | None = None,
    provider: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[LlmCall]:
    """Recorded calls, newest first."""
    return await repository.list_calls(
        session, intent=intent, provider=provider, limit=limit, before_id=before_id
    )


@dataclass(frozen=True)
class DailyTotal:
    """One provider's calls on one UTC day; rejected requests (no provider could answer) are
    not calls: they are counted in `rejected`, on the row of provider `-`."""

    day: str
    provider: str
    calls: int
    failures: int
    rejected: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


async def daily_totals(
    session: AsyncSession, *, days: int = 7, now: datetime | None = None
) -> list[DailyTotal]:
    """Per provider and UTC day: calls, failures, rejections, tokens and cost, newest day
    first."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = await repository.daily_sums(session, since=since)
    return [
        DailyTotal(
            day=str(row[0]),
            provider=row[1],
            calls=int(row[2] or 0),
            failures=int(row[3] or 0),
            rejected=int(row[4] or 0),
            tokens_in=int(row[5] or 0),
            tokens_out=int(row[6] or 0),
            cost_usd=round(float(row[7] or 0.0), 6),
        )
        for row in rows
    ]

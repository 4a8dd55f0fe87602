"""Per-provider circuit breaker: N consecutive failures open it for a cooldown, then one probe.

The state lives in a `BreakerStore`: the database (`provider_breakers`) for a runtime, so every
replica and `awoooi ai providers` see one breaker per provider; memory for a bare router.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.ai import repository
from awoooi.ai.models import ProviderBreaker
from awoooi.core.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")


class BreakerState(StrEnum):
    """Closed: calls pass. Open: calls skip. Half-open: one probe call decides."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and for how long."""

    failure_threshold: int
    cooldown_seconds: float


@dataclass
class BreakerRecord:
    """One provider's breaker; times are seconds on the store's clock."""

    failures: int = 0
    opened_at: float | None = None
    # A probe holds half-open until it ends or this time passes (its holder may have died).
    probing_until: float | None = None

    def state(self, now: float, policy: BreakerPolicy) -> BreakerState:
        """The state now (an open breaker past its cooldown is half-open)."""
        if self.opened_at is None:
            return BreakerState.CLOSED
        if now - self.opened_at >= policy.cooldown_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def probing(self, now: float) -> bool:
        """Whether a probe call is in flight."""
        return self.probing_until is not None and self.probing_until > now

    def try_acquire(self, now: float, policy: BreakerPolicy, probe_seconds: float) -> bool:
        """Whether a call may go through now; in half-open, only one probe at a time."""
        state = self.state(now, policy)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self.probing(now):
            self.probing_until = now + probe_seconds
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: close."""
        self.failures = 0
        self.opened_at = None
        self.probing_until = None

    def record_failure(self, now: float, policy: BreakerPolicy) -> None:
        """A call failed: count it; open (again) at the threshold or after a failed probe."""
        self.failures += 1
        if self.probing_until is not None or self.failures >= policy.failure_threshold:
            self.opened_at = now
        self.probing_until = None

    def release(self) -> None:
        """A call ended without an outcome (cancelled): let another probe try."""
        self.probing_until = None

    @property
    def clean(self) -> bool:
        """Closed with nothing counted: a success changes nothing."""
        return self.failures == 0 and self.opened_at is None and self.probing_until is None


class BreakerStore(Protocol):
    """Where breaker states live; every method is one atomic step."""

    async def states(self, providers: Sequence[str]) -> dict[str, BreakerState]:
        """Each provider's state now."""
        ...

    async def try_acquire(self, provider: str, *, probe_seconds: float) -> bool:
        """Whether a call may go through; a half-open breaker lets one probe through for up to
        `probe_seconds` (the call's deadline)."""
        ...

    async def record_success(self, provider: str) -> None:
        """A call succeeded."""
        ...

    async def record_failure(self, provider: str) -> None:
        """A call failed."""
        ...

    async def release(self, provider: str) -> None:
        """A call was cancelled before it had an outcome."""
        ...


class MemoryBreakers:
    """Breakers of this process only (a router without a database)."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._records: dict[str, BreakerRecord] = {}

    def _record(self, provider: str) -> BreakerRecord:
        return self._records.setdefault(provider, BreakerRecord())

    async def states(self, providers: Sequence[str]) -> dict[str, BreakerState]:
        """Each provider's state now."""
        now = self._clock()
        return {name: self._record(name).state(now, self._policy) for name in providers}

    async def try_acquire(self, provider: str, *, probe_seconds: float) -> bool:
        """Whether a call may go through now."""
        return self._record(provider).try_acquire(self._clock(), self._policy, probe_seconds)

    async def record_success(self, provider: str) -> None:
        """Close the breaker."""
        self._record(provider).record_success()

    async def record_failure(self, provider: str) -> None:
        """Count a failure (and maybe open)."""
        self._record(provider).record_failure(self._clock(), self._policy)

    async def release(self, provider: str) -> None:
        """End a probe without an outcome."""
        self._record(provider).release()


def _seconds(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class DatabaseBreakers:
    """Breakers shared by every process on the database (table `provider_breakers`).

    Each change reads and writes the provider's row in one short transaction of its own, under
    the row's lock (PostgreSQL `FOR UPDATE`, SQLite's write lock), so two replicas never both
    probe a half-open provider. The clock is wall time: replicas share no monotonic clock.
    Storage trouble never blocks a call: it is logged and the call goes through.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        policy: BreakerPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._factory = session_factory
        self._policy = policy
        self._clock = clock

    async def states(self, providers: Sequence[str]) -> dict[str, BreakerState]:
        """Each provider's state now, as every replica sees it."""
        async with self._factory() as session:
            rows = await repository.breakers(session, providers)
        now = self._now()
        found = {row.provider: self._as_record(row) for row in rows}
        return {
            name: found.get(name, BreakerRecord()).state(now, self._policy) for name in providers
        }

    async def try_acquire(self, provider: str, *, probe_seconds: float) -> bool:
        """Whether a call may go through now (a closed breaker costs one read, no lock)."""
        try:
            async with self._factory() as session:
                row = await repository.breaker(session, provider)
            if row is None or row.opened_at is None:
                return True
            return await self._change(
                provider,
                lambda record, now: record.try_acquire(now, self._policy, probe_seconds),
            )
        except Exception:  # the breaker is a guard, not a gate: an unreadable one lets calls by
            log.exception("could not read a provider breaker", provider=provider)
            return True

    async def record_success(self, provider: str) -> None:
        """Close the breaker (no write when it is already closed and clean)."""
        try:
            async with self._factory() as session:
                row = await repository.breaker(session, provider)
            if row is None or self._as_record(row).clean:
                return
            await self._change(provider, lambda record, _now: record.record_success())
        except Exception:  # log.exception keeps it seen; the call's answer still counts
            log.exception("could not record a provider success", provider=provider)

    async def record_failure(self, provider: str) -> None:
        """Count a failure (and maybe open), for every replica."""
        try:
            await self._change(
                provider, lambda record, now: record.record_failure(now, self._policy)
            )
        except Exception:  # log.exception keeps it seen; the fallback still runs
            log.exception("could not record a provider failure", provider=provider)

    async def release(self, provider: str) -> None:
        """End a probe without an outcome."""
        try:
            await self._change(provider, lambda record, _now: record.release())
        except Exception:  # the probe's deadline frees it anyway
            log.exception("could not release a provider probe", provider=provider)

    async def _change(self, provider: str, change: Callable[[BreakerRecord, float], T]) -> T:
        """Apply `change` to the provider's row under its lock, in a transaction of its own."""
        async with self._factory() as session, session.begin():
            row = await repository.lock_breaker(session, provider)
            record = self._as_record(row)
            result = change(record, self._now())
            row.failures = record.failures
            row.opened_at = _moment(record.opened_at)
            row.probing_until = _moment(record.probing_until)
        return result

    def _now(self) -> float:
        # To the microsecond, as the database keeps times: a time compared is a time stored.
        return round(self._clock(), 6)

    @staticmethod
    def _as_record(row: ProviderBreaker) -> BreakerRecord:
        return BreakerRecord(row.failures, _seconds(row.opened_at), _seconds(row.probing_until))

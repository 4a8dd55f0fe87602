"""The `retention.prune` job, queued once per `retention.interval` by every `serve` replica
(the slot's dedupe key makes it one job) and run by any worker."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.core.audit import Caller, Door
from awoooi.core.db import transaction, utcnow
from awoooi.core.jobs import JobContext, JobRegistry, enqueue
from awoooi.core.logging import get_logger
from awoooi.core.schedule import run_every, schedule_slot
from awoooi.retention.service import RetentionPolicy, prune

log = get_logger(__name__)

PRUNE_JOB = "retention.prune"
SCHEDULE_CALLER = Caller("schedule", Door.SYSTEM)


def prune_key(slot: int) -> str:
    """The dedupe key of one interval's prune job."""
    return f"retention-prune:{slot}"


async def queue_scheduled_prune(
    session_factory: async_sessionmaker[AsyncSession],
    interval: timedelta,
    *,
    now: datetime | None = None,
) -> int:
    """Queue this interval's prune job unless a replica already did; the job's id either way."""
    slot = schedule_slot(now or utcnow(), interval)
    async with transaction(session_factory) as session:
        return await enqueue(session, PRUNE_JOB, {"slot": slot}, prune_key(slot))


async def run_schedule(
    session_factory: async_sessionmaker[AsyncSession],
    interval: timedelta,
    stop: asyncio.Event,
) -> None:
    """Queue a prune every `retention.interval` until `stop` is set (the serve lifespan)."""

    async def tick() -> None:
        await queue_scheduled_prune(session_factory, interval)

    await run_every(interval, stop, tick, name=PRUNE_JOB)


class RetentionPruner:
    """Runs the `retention.prune` job."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], policy: RetentionPolicy
    ) -> None:
        self._factory = session_factory
        self.policy = policy

    def register(self, registry: JobRegistry) -> None:
        """Register the job handler."""
        registry.register(PRUNE_JOB, self.run)

    async def run(self, ctx: JobContext) -> None:
        """Prune in batches of their own transactions; a replica already pruning means this
        interval is served, so a busy run just ends."""
        await prune(self._factory, self.policy, caller=SCHEDULE_CALLER)

"""Periodic work every replica agrees on: time is cut into slots of one interval, and each slot's
job is queued under a dedupe key naming the slot, so it runs once whoever queues it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from awoooi.core.db import utcnow
from awoooi.core.logging import get_logger

log = get_logger(__name__)


def schedule_slot(now: datetime, interval: timedelta) -> int:
    """Which interval `now` falls in (the same number on every replica)."""
    return int(now.timestamp() // interval.total_seconds())


def seconds_to_next_slot(now: datetime, interval: timedelta) -> float:
    """How long until the next interval starts."""
    seconds = interval.total_seconds()
    return seconds - (now.timestamp() % seconds)


async def run_every(
    interval: timedelta,
    stop: asyncio.Event,
    tick: Callable[[], Awaitable[None]],
    *,
    name: str,
) -> None:
    """Call `tick` now and at the start of every following interval until `stop` is set; a
    failing tick is logged and the schedule goes on."""
    while not stop.is_set():
        try:
            await tick()
        except Exception as exc:  # noqa: BLE001 - the schedule must outlive a database blip
            log.warning("scheduled work failed", schedule=name, error=str(exc))
        # Sleep to the start of the next interval, so replicas agree on the slot.
        left = seconds_to_next_slot(utcnow(), interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(left, 1.0))

"""The serving process's job worker steps aside while alerts are being delivered (issue 17): a
storm delays background work by a bounded time and never stops it."""

from __future__ import annotations

import asyncio
import contextlib

from awoooi.core.db import transaction
from awoooi.core.foreground import Foreground
from awoooi.core.jobs import JobContext, enqueue
from awoooi.runtime import Runtime

WAIT = 30.0


async def test_stepping_aside_returns_at_once_when_nothing_is_delivered() -> None:
    foreground = Foreground()
    await asyncio.wait_for(foreground.step_aside(at_most=WAIT), WAIT / 2)
    assert foreground.active == 0


async def test_stepping_aside_waits_for_the_last_delivery_to_end() -> None:
    foreground = Foreground()
    order: list[str] = []
    with foreground.serving(), foreground.serving():
        assert foreground.active == 2
        waiting = asyncio.create_task(foreground.step_aside(at_most=WAIT))
        await asyncio.sleep(0)
        order.append("deliveries end")
    await asyncio.wait_for(waiting, WAIT)
    order.append("background goes on")
    assert order == ["deliveries end", "background goes on"]
    assert foreground.active == 0


async def test_stepping_aside_is_bounded_while_deliveries_go_on() -> None:
    foreground = Foreground()
    with foreground.serving():
        await asyncio.wait_for(foreground.step_aside(at_most=0.01), WAIT)
        assert foreground.active == 1  # it returned although a delivery is still in progress


async def test_a_failed_delivery_still_counts_as_ended() -> None:
    foreground = Foreground()
    with contextlib.suppress(RuntimeError), foreground.serving():
        raise RuntimeError("the request failed")
    assert foreground.active == 0
    await asyncio.wait_for(foreground.step_aside(at_most=WAIT), WAIT / 2)


async def test_the_runtimes_worker_claims_nothing_while_alerts_are_delivered(
    runtime: Runtime,
) -> None:
    ran = asyncio.Event()

    async def handler(_ctx: JobContext) -> None:
        ran.set()

    runtime.registry.register("test.after_the_storm", handler)
    async with transaction(runtime.session_factory) as session:
        await enqueue(session, "test.after_the_storm", {})
    stop = asyncio.Event()
    with runtime.foreground.serving():
        worker = asyncio.create_task(runtime.worker().run(stop))
        try:
            # Several poll intervals: a worker that did not step aside would have run it.
            await asyncio.sleep(runtime.settings.jobs.poll_interval * 3)
            assert not ran.is_set()
        except BaseException:
            stop.set()
            await worker
            raise
    try:
        await asyncio.wait_for(ran.wait(), WAIT)
    finally:
        stop.set()
        await asyncio.wait_for(worker, WAIT)

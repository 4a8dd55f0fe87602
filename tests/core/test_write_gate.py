"""The SQLite write gate: one holder, requests before background work, a bounded wait."""

from __future__ import annotations

import asyncio

import pytest

from awoooi.core.errors import DatabaseBusyError
from awoooi.core.write_gate import WriteGate, background_writes


async def _take(gate: WriteGate, holder: str, order: list[str], *, background: bool) -> None:
    if background:
        with background_writes():
            await gate.acquire(holder)
    else:
        await gate.acquire(holder)
    order.append(holder)
    gate.release(holder)


async def test_requests_go_before_background_writers_waiting_longer() -> None:
    gate = WriteGate(wait=30)
    await gate.acquire("first")
    order: list[str] = []
    job = asyncio.create_task(_take(gate, "job", order, background=True))
    await asyncio.sleep(0)
    request = asyncio.create_task(_take(gate, "request", order, background=False))
    await asyncio.sleep(0)

    gate.release("first")
    await asyncio.gather(job, request)

    assert order == ["request", "job"]
    assert gate.holder is None


async def test_a_background_writer_past_its_patience_is_served_first() -> None:
    gate = WriteGate(wait=4)  # patience: a quarter of the bound
    await gate.acquire("first")
    order: list[str] = []
    job = asyncio.create_task(_take(gate, "job", order, background=True))
    await asyncio.sleep(1.1)
    request = asyncio.create_task(_take(gate, "request", order, background=False))
    await asyncio.sleep(0)

    gate.release("first")
    await asyncio.gather(job, request)

    assert order == ["job", "request"]


async def test_a_writer_that_cannot_start_in_time_is_told_busy_and_leaves_no_trace() -> None:
    gate = WriteGate(wait=0.05)
    await gate.acquire("stuck")

    with pytest.raises(DatabaseBusyError) as raised:
        await gate.acquire("late")

    assert raised.value.status_code == 503
    gate.release("stuck")
    await gate.acquire("next")  # the one that gave up is not in the queue any more
    assert gate.holder == "next"


async def test_acquiring_again_while_holding_is_a_no_op_and_strangers_cannot_release() -> None:
    gate = WriteGate(wait=0.05)
    await gate.acquire("one")
    await gate.acquire("one")
    gate.release("other")
    assert gate.holder == "one"
    gate.release("one")
    assert gate.holder is None

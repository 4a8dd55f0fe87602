"""Foreground work of a process (alert deliveries it is answering), so the job worker in the
same process steps aside during a storm instead of taking CPU from the senders."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Foreground:
    """Counts the deliveries in progress; background work waits (a bounded time) for none."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active(self) -> int:
        """Deliveries being answered now."""
        return self._active

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Mark one delivery in progress for the duration of the block."""
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def step_aside(self, at_most: float) -> None:
        """Wait until no delivery is in progress, or `at_most` seconds: a storm delays
        background work, it never stops it."""
        if self._active == 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=at_most)

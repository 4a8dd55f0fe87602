"""One writer at a time on an SQLite database, queued in the process instead of SQLite's busy
handler: requests go first, background jobs yield to them, and a write that cannot start within
its bound fails as DatabaseBusyError (503 with Retry-After), never as a 500."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from awoooi.core.errors import DatabaseBusyError

_BACKGROUND: ContextVar[bool] = ContextVar("awoooi_background_writer", default=False)

# A background writer waits at most this share of the bound behind requests before it is served
# first: a storm delays jobs, it does not starve them into failing.
BACKGROUND_PATIENCE = 0.25


@contextlib.contextmanager
def background_writes() -> Iterator[None]:
    """Mark the writes made in this block (and the tasks it starts) as background work."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def in_background() -> bool:
    """Whether the current task writes as background work (a job worker)."""
    return _BACKGROUND.get()


@dataclass
class _Waiter:
    holder: object
    future: asyncio.Future[None]
    since: float = field(default_factory=time.monotonic)


class WriteGate:
    """A lock with two queues: requests before background work, each served in arrival order."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.holder: object | None = None
        self._requests: deque[_Waiter] = deque()
        self._background: deque[_Waiter] = deque()

    async def acquire(self, holder: object) -> None:
        """Hold the gate for `holder` (already held: nothing to do); DatabaseBusyError past the
        bound."""
        if self.holder is holder:
            return
        if self.holder is None and not self._requests and not self._background:
            self.holder = holder
            return
        waiter = _Waiter(holder, asyncio.get_running_loop().create_future())
        queue = self._background if in_background() else self._requests
        queue.append(waiter)
        if self.holder is None:  # only stale waiters were queued
            self._hand_over()
        try:
            async with asyncio.timeout(self.wait):
                await waiter.future
        except BaseException as exc:
            handed_over = waiter.future.done() and not waiter.future.cancelled()
            if handed_over:  # granted at the moment we gave up: pass it on
                self.release(holder)
            with contextlib.suppress(ValueError):
                queue.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise DatabaseBusyError(
                    f"the database is busy: no write could start within {self.wait:g} s"
                ) from None
            raise

    def release(self, holder: object) -> None:
        """Let the next writer in, if `holder` holds the gate."""
        if self.holder is not holder:
            return
        self.holder = None
        self._hand_over()

    def _hand_over(self) -> None:
        waiter = self._next()
        if waiter is not None:
            self.holder = waiter.holder
            waiter.future.set_result(None)

    def _next(self) -> _Waiter | None:
        for queue in (self._background, self._requests):
            while queue and queue[0].future.done():
                queue.popleft()
        patience = self.wait * BACKGROUND_PATIENCE
        if self._background and (
            not self._requests or time.monotonic() - self._background[0].since >= patience
        ):
            return self._background.popleft()
        if self._requests:
            return self._requests.popleft()
        return None

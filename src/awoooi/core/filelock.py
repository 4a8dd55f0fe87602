"""An exclusive lock on a file, for work several processes share (a SQLite migration, a Git
cache): flock across processes, an asyncio.Lock inside one."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

from awoooi.core.private_files import private_directory

POLL_SECONDS = 0.05

# One asyncio.Lock per (event loop, lock file) while somebody uses it: coroutines of one process
# queue on it instead of all polling the flock.
_LOCKS: weakref.WeakValueDictionary[tuple[asyncio.AbstractEventLoop, Path], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


async def _flock(descriptor: int) -> None:
    """Take an exclusive flock, polling so the event loop (and cancellation) go on."""
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(POLL_SECONDS)


@contextlib.asynccontextmanager
async def file_lock(
    path: Path,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - it bounds the wait, not the holding
) -> AsyncIterator[None]:
    """Hold an exclusive lock on `path` (created 0600 with its parents); TimeoutError when it is
    not ours within `timeout` seconds (None waits for ever; cancelling the wait is safe)."""
    key = (asyncio.get_running_loop(), path)
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    private_directory(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Only the wait is bounded: what the caller does while holding the lock is not.
        async with asyncio.timeout(timeout):
            await lock.acquire()
            try:
                await _flock(descriptor)
            except BaseException:
                lock.release()
                raise
        try:
            yield
        finally:
            lock.release()
    finally:
        os.close(descriptor)  # closing the descriptor releases the flock

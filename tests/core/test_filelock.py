"""One file lock for work processes share: exclusive in one process and across processes, its
wait bounded by a timeout and safe to cancel."""

from __future__ import annotations

import asyncio
import fcntl
import subprocess
import sys
from pathlib import Path

import pytest

from awoooi.core.filelock import file_lock


async def test_holders_take_turns_in_one_process(tmp_path: Path) -> None:
    lock, inside, most = tmp_path / "a.lock", 0, 0

    async def hold() -> None:
        nonlocal inside, most
        async with file_lock(lock):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(5)))

    assert most == 1
    assert lock.stat().st_mode & 0o777 == 0o600


async def test_the_parent_directory_is_created(tmp_path: Path) -> None:
    async with file_lock(tmp_path / "deep" / "er" / "x.lock"):
        pass
    assert (tmp_path / "deep" / "er" / "x.lock").exists()


def hold_in_another_process(lock: Path) -> subprocess.Popen[str]:
    """A process that flocks `lock`, says "held", and lets go when its stdin closes."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('held', flush=True); sys.stdin.read()",
            str(lock),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_a_lock_held_by_another_process_times_out_then_is_taken(tmp_path: Path) -> None:
    lock = tmp_path / "b.lock"
    holder = hold_in_another_process(lock)
    try:
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "held\n"
        with pytest.raises(TimeoutError):
            async with file_lock(lock, timeout=0.2):
                pytest.fail("the lock was taken while another process held it")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits, and its flock goes with it
        await asyncio.to_thread(holder.wait, 10)

    async with file_lock(lock, timeout=5):
        pass


async def test_a_cancelled_wait_leaves_the_lock_usable(tmp_path: Path) -> None:
    lock = tmp_path / "c.lock"
    async with file_lock(lock):
        waiting = asyncio.create_task(_take(lock))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    async with file_lock(lock, timeout=1):
        with open(lock) as other, pytest.raises(BlockingIOError):  # noqa: ASYNC230
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


async def test_an_error_inside_is_not_taken_for_a_timeout(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match="the caller's own"):
        async with file_lock(tmp_path / "d.lock", timeout=5):
            raise TimeoutError("the caller's own")
    async with file_lock(tmp_path / "d.lock", timeout=1):
        pass


async def _take(lock: Path) -> None:
    async with file_lock(lock):
        pass

"""A job worker in its own process, for tests that kill it mid-job.

Usage: python worker_proc.py DATABASE_URL READY_DIR LEASE_SECONDS [CONCURRENCY]

It runs a real `Worker` whose `test.block` handler writes READY_DIR/<job id> (containing the
attempt number) and then blocks forever, so the test can SIGKILL the process while it holds a job.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from awoooi.core.config import JobsSettings
from awoooi.core.db import create_engine, create_session_factory
from awoooi.core.jobs import JobContext, JobRegistry, Worker

BLOCK_KIND = "test.block"
WORKER_ID = "proc-worker"


async def main(database_url: str, ready_dir: Path, lease_seconds: float, concurrency: int) -> None:
    """Run the worker until killed."""
    engine = create_engine(database_url, pool_size=4)
    registry = JobRegistry()

    async def block(ctx: JobContext) -> None:
        # Write to a temporary name and rename, so the test never reads a half-written file.
        partial = ready_dir / f"{ctx.job_id}.partial"
        await asyncio.to_thread(partial.write_text, str(ctx.attempt))
        await asyncio.to_thread(partial.rename, ready_dir / str(ctx.job_id))
        await asyncio.Event().wait()  # never set: the test kills us here

    registry.register(BLOCK_KIND, block)
    settings = JobsSettings(
        poll_interval=0.02,
        lease_seconds=lease_seconds,
        concurrency=concurrency,
        run_in_serve=False,
    )
    worker = Worker(create_session_factory(engine), registry, settings, worker_id=WORKER_ID)
    try:
        await worker.run(asyncio.Event())
    finally:
        await engine.dispose()


if __name__ == "__main__":
    concurrency_arg = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), concurrency_arg))

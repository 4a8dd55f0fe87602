"""What retention may delete from the LLM call ledger: rows older than `ai.retention_days`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.ai import repository


async def calls_before(
    session: AsyncSession, *, before: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of ledger rows older than `before`, above `after_id`, in id order."""
    return await repository.call_ids_before(session, before=before, after_id=after_id, limit=limit)


async def remove_calls(session: AsyncSession, ids: list[int], *, dry_run: bool) -> dict[str, int]:
    """Delete these ledger rows (on a dry run only count them); rows per table."""
    if dry_run or not ids:
        return {"llm_calls": len(ids)}
    return {"llm_calls": await repository.delete_calls(session, ids)}

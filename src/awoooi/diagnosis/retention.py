"""What retention deletes with a pruned incident: its diagnoses."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.diagnosis import repository


async def remove_of_incidents(
    session: AsyncSession, incident_ids: list[int], *, dry_run: bool
) -> dict[str, int]:
    """Delete the diagnoses of these incidents (on a dry run only count them); rows per table."""
    if not incident_ids:
        return {"diagnoses": 0}
    if dry_run:
        return {"diagnoses": await repository.count_of_incidents(session, incident_ids)}
    return {"diagnoses": await repository.delete_of_incidents(session, incident_ids)}

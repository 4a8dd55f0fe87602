"""What card buttons do: approve or reject a runbook draft or a waiting repair."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.audit import Caller
from awoooi.core.errors import InvalidInputError
from awoooi.knowledge import service as knowledge
from awoooi.notify.press import ActionRegistry
from awoooi.repair.service import RepairService


def _id(target: str) -> int:
    if not target.isdigit():
        raise InvalidInputError(f"bad target {target!r}")
    return int(target)


def register_review_actions(registry: ActionRegistry, repairs: RepairService) -> None:
    """Bind the four review actions to the knowledge and repair services."""

    async def approve_entry(session: AsyncSession, target: str, caller: Caller) -> str:
        entry = await knowledge.approve_entry(session, _id(target), caller=caller)
        return f"Approved: runbook #{entry.id} is published"

    async def reject_entry(session: AsyncSession, target: str, caller: Caller) -> str:
        entry = await knowledge.reject_entry(
            session,
            _id(target),
            caller=caller,
            reason=f"rejected from a card by {caller.actor}",
        )
        return f"Rejected: runbook #{entry.id}"

    async def approve_repair(session: AsyncSession, target: str, caller: Caller) -> str:
        repair = await repairs.approve(session, _id(target), caller=caller)
        return f"Approved: repair #{repair.id} is queued"

    async def reject_repair(session: AsyncSession, target: str, caller: Caller) -> str:
        repair = await repairs.reject(
            session,
            _id(target),
            caller=caller,
            reason=f"rejected from a card by {caller.actor}",
        )
        return f"Rejected: repair #{repair.id} will not run"

    registry.register("knowledge.approve", approve_entry)
    registry.register("knowledge.reject", reject_entry)
    registry.register("repair.approve", approve_repair)
    registry.register("repair.reject", reject_repair)

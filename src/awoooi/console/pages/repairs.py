"""Repairs: waiting for approval (approve, or reject with a reason), running, recent; one
repair with its step log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response

from awoooi.console.deps import OperatorCaller, RuntimeDep, SessionDep, User
from awoooi.console.routing import ConsoleRoute, back_with_notice
from awoooi.console.templates import render
from awoooi.core.errors import NotFoundError
from awoooi.core.inputs import MAX_ROW_ID, Text
from awoooi.incidents import repository as incidents
from awoooi.repair import repository
from awoooi.repair.models import Repair, RepairStatus, RepairStep

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

SHOWN = 50
RepairId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
NOTICES = {
    "approved": "Approved: the repair is queued, and its gates are checked again before it runs.",
    "rejected": "Rejected: nothing runs.",
}


@dataclass(frozen=True)
class RepairRow:
    """A repair with the human id of its incident."""

    repair: Repair
    incident: str


async def _rows(session: SessionDep, found: list[Repair]) -> list[RepairRow]:
    names = await incidents.human_ids(session, [repair.incident_id for repair in found])
    return [RepairRow(r, names.get(r.incident_id, str(r.incident_id))) for r in found]


async def _with_status(session: SessionDep, *statuses: RepairStatus) -> list[RepairRow]:
    found: list[Repair] = []
    for status in statuses:
        page, _total = await repository.list_repairs(session, status=status, limit=SHOWN)
        found.extend(page)
    return await _rows(session, sorted(found, key=lambda r: r.id, reverse=True))


@router.get("/repairs")
async def repair_list(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: User,
    notice: str | None = None,
) -> Response:
    """Repairs waiting for a human, running now, and the most recent ones."""
    recent, _total = await repository.list_repairs(session, limit=SHOWN)
    return render(
        request,
        "repairs.html",
        {
            "active": "repairs",
            "waiting": await _with_status(session, RepairStatus.PENDING_APPROVAL),
            "running": await _with_status(session, RepairStatus.RUNNING, RepairStatus.QUEUED),
            "recent": await _rows(session, list(recent)),
            "notice": NOTICES.get(notice or ""),
            "refresh": runtime.settings.console.refresh_seconds,
        },
    )


@router.get("/repairs/{repair_id}")
async def repair_detail(
    request: Request,
    repair_id: RepairId,
    session: SessionDep,
    runtime: RuntimeDep,
    user: User,
    notice: str | None = None,
) -> Response:
    """One repair: its decision, its plan, and the log of its steps."""
    repair = await repository.get(session, repair_id)
    if repair is None:
        raise NotFoundError(f"no repair {repair_id}")
    steps: list[RepairStep] = await repository.steps_of(session, repair.id)
    [row] = await _rows(session, [repair])
    return render(
        request,
        "repair.html",
        {
            "active": "repairs",
            "row": row,
            "repair": repair,
            "steps": steps,
            "notice": NOTICES.get(notice or ""),
            "refresh": runtime.settings.console.refresh_seconds,
        },
    )


def _back(next_path: str, repair_id: int, notice: str) -> Response:
    return back_with_notice(next_path, f"/ui/repairs/{repair_id}", notice)


@router.post("/repairs/{repair_id}/approve")
async def approve(
    repair_id: RepairId,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    note: Annotated[Text, Form(max_length=4000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Approve a waiting repair (the service the API calls, audited the same way)."""
    await runtime.repairs.approve(session, repair_id, caller=caller, note=note.strip() or None)
    return _back(next, repair_id, "approved")


@router.post("/repairs/{repair_id}/reject")
async def reject(
    repair_id: RepairId,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    reason: Annotated[Text, Form(max_length=4000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Reject a waiting repair with a reason; nothing runs."""
    await runtime.repairs.reject(session, repair_id, caller=caller, reason=reason)
    return _back(next, repair_id, "rejected")

"""Repair endpoints: playbooks, repairs, approvals, and "repair this incident now"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from awoooi.api.deps import OperatorCaller, RowIdPath, RuntimeDep, SessionDep, Viewer
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.errors import NotFoundError
from awoooi.core.inputs import Text
from awoooi.core.jobs import job_for_key
from awoooi.incidents import repository as incidents
from awoooi.repair import repository
from awoooi.repair.models import Repair, RepairStatus
from awoooi.repair.schemas import (
    ApproveRepair,
    PlaybookOut,
    RejectRepair,
    RepairOut,
    RepairPage,
    RunRepair,
)

router = APIRouter(prefix="/api/v1", tags=["repairs"], route_class=AuthBeforeBodyRoute)


async def _out(session: SessionDep, repair: Repair, *, with_steps: bool = True) -> RepairOut:
    incident = await incidents.get_by_id(session, repair.incident_id)
    human_id = incident.human_id if incident else str(repair.incident_id)
    steps = await repository.steps_of(session, repair.id) if with_steps else None
    return RepairOut.of(repair, human_id, steps)


@router.get("/playbooks", response_model=list[PlaybookOut])
async def list_playbooks(runtime: RuntimeDep, _principal: Viewer) -> list[PlaybookOut]:
    """Every loaded playbook, in the order they are tried."""
    return [PlaybookOut.of(playbook) for playbook in runtime.repairs.catalog.playbooks]


@router.get("/repairs", response_model=RepairPage)
async def list_repairs(
    session: SessionDep,
    _principal: Viewer,
    status: RepairStatus | None = None,
    incident: Annotated[Text | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RepairPage:
    """Repairs, newest first (`?status=` and `?incident=` filter)."""
    incident_id = None
    if incident is not None:
        found = await incidents.get_by_human_id(session, incident)
        if found is None:
            raise NotFoundError(f"no incident {incident}")
        incident_id = found.id
    items, total = await repository.list_repairs(
        session, status=status, incident_id=incident_id, limit=limit, offset=offset
    )
    page = [await _out(session, repair, with_steps=False) for repair in items]
    return RepairPage(items=page, total=total, limit=limit, offset=offset)


@router.get("/repairs/{repair_id}", response_model=RepairOut)
async def get_repair(repair_id: RowIdPath, session: SessionDep, _principal: Viewer) -> RepairOut:
    """One repair with its steps."""
    repair = await repository.get(session, repair_id)
    if repair is None:
        raise NotFoundError(f"no repair {repair_id}")
    return await _out(session, repair)


@router.post("/repairs/{repair_id}/approve", response_model=RepairOut)
async def approve_repair(
    repair_id: RowIdPath,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    body: ApproveRepair | None = None,
) -> RepairOut:
    """Approve a waiting repair: it is queued, and its gates are checked again before it runs."""
    repair = await runtime.repairs.approve(
        session, repair_id, caller=caller, note=body.note if body else None
    )
    return await _out(session, repair)


@router.post("/repairs/{repair_id}/reject", response_model=RepairOut)
async def reject_repair(
    repair_id: RowIdPath,
    body: RejectRepair,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
) -> RepairOut:
    """Reject a waiting repair, with a reason; nothing runs."""
    repair = await runtime.repairs.reject(session, repair_id, caller=caller, reason=body.reason)
    return await _out(session, repair)


@router.post("/incidents/{incident_id}/repair", response_model=RepairOut)
async def repair_incident(
    incident_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    body: RunRepair | None = None,
) -> RepairOut:
    """Decide a repair for the incident now and, when the gates allow it, run it (`wait`,
    the default) or leave it to a worker."""
    incident = await incidents.get_by_human_id(session, incident_id)
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}")
    repair = await runtime.repairs.decide_and_record(session, incident, caller=caller)
    job_id = await job_for_key(session, f"repair:{repair.id}")
    # Committed before running: the steps record themselves in their own transactions.
    await session.commit()
    if job_id is not None and (body is None or body.wait):
        # Through the job, so the lease keeps any other worker off it and a crash resumes it.
        await runtime.worker().run_job(job_id)
    refreshed = await repository.get(session, repair.id)
    assert refreshed is not None
    await session.refresh(refreshed)
    return await _out(session, refreshed)

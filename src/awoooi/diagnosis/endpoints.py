"""Diagnosis endpoints: run an incident's diagnosis again (the incident view shows the latest)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from awoooi.api.deps import OperatorCaller, RuntimeDep, SessionDep
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.errors import NotFoundError
from awoooi.diagnosis.incidents import latest_diagnosis, request_diagnosis
from awoooi.diagnosis.schemas import DiagnoseRequest, DiagnosisOut
from awoooi.incidents import repository as incidents

router = APIRouter(prefix="/api/v1", tags=["incidents"], route_class=AuthBeforeBodyRoute)


@router.post(
    "/incidents/{incident_id}/diagnose",
    response_model=DiagnosisOut,
    responses={202: {"description": "Queued (`wait: false`); a worker runs it."}},
)
async def diagnose_incident(
    incident_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    body: DiagnoseRequest | None = None,
) -> DiagnosisOut | JSONResponse:
    """Diagnose the incident again: collect the evidence now, name the causes, ask the model.
    With `wait` (the default) the answer is the new diagnosis."""
    incident = await incidents.get_by_human_id(session, incident_id)
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}")
    job_id = await request_diagnosis(session, incident, caller=caller)
    # Committed before running: the job runs in its own transaction, under its lease.
    await session.commit()
    if body is not None and not body.wait:
        return JSONResponse({"job_id": job_id}, status_code=status.HTTP_202_ACCEPTED)
    if not await runtime.worker().run_job(job_id):
        # ai.max_concurrent_diagnoses are running: the job waits, first in line, for a worker.
        return JSONResponse({"job_id": job_id}, status_code=status.HTTP_202_ACCEPTED)
    record = await latest_diagnosis(session, incident.id)
    assert record is not None, "the diagnosis job stores a diagnosis"
    return DiagnosisOut.of(record)

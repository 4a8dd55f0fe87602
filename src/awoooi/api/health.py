"""Liveness, readiness and Prometheus metrics (no auth: probes and scrapers call these)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from awoooi.api.deps import RuntimeDep
from awoooi.api.errors import error_response
from awoooi.core import migrate
from awoooi.core.logging import get_logger
from awoooi.core.metrics import render_metrics

router = APIRouter(tags=["health"])
log = get_logger(__name__)

READY_TIMEOUT_SECONDS = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or not migrated"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The database answers and its schema is at the newest migration."""
    try:
        revision = await asyncio.wait_for(
            migrate.current_revision(runtime.engine), READY_TIMEOUT_SECONDS
        )
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database means not ready
        log.warning("readiness check failed", error=f"{type(exc).__name__}: {exc}")
        return error_response(503, "database unreachable")
    head = migrate.head_revision()
    if revision != head:
        return error_response(503, f"database schema at {revision}, expected {head}")
    return JSONResponse({"status": "ready", "schema": revision})


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text exposition of every awoooi_ series."""
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)

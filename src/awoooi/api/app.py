"""The FastAPI application factory and its lifespan (migrations, bootstrap, in-process worker)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

import awoooi
from awoooi.ai import endpoints as ai_endpoints
from awoooi.api import admin, health
from awoooi.api.errors import install_error_handlers
from awoooi.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from awoooi.console.app import install_console
from awoooi.core.db import redact_url
from awoooi.core.logging import get_logger
from awoooi.diagnosis import endpoints as diagnosis_endpoints
from awoooi.drift import endpoints as drift_endpoints
from awoooi.drift.scanning import run_schedule
from awoooi.incidents import endpoints as incident_endpoints
from awoooi.knowledge import endpoints as knowledge_endpoints
from awoooi.notify import endpoints as notify_endpoints
from awoooi.repair import endpoints as repair_endpoints
from awoooi.retention.schedule import run_schedule as run_retention_schedule
from awoooi.runtime import Runtime
from awoooi.settings import Settings, config_warnings

log = get_logger(__name__)


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    run_migrations: bool = True,
    run_worker: bool | None = None,
) -> FastAPI:
    """Build the API; the lifespan migrates, bootstraps the admin token and starts a worker."""
    owned_runtime = runtime is None
    active = runtime or Runtime.from_settings(settings)
    start_worker = settings.jobs.run_in_serve if run_worker is None else run_worker

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = redact_url(str(active.engine.url))
        log.info("starting", version=awoooi.__version__, database=database)
        for warning in config_warnings(settings):
            log.warning("configuration", problem=warning)
        if run_migrations:
            await active.migrate()
        await active.ensure_admin_token()
        stop = asyncio.Event()
        worker_task = (
            asyncio.create_task(active.worker().run(stop), name="awoooi-worker")
            if start_worker
            else None
        )
        drift = settings.drift
        schedule_task = (
            asyncio.create_task(
                run_schedule(
                    active.session_factory,
                    drift,
                    stop,
                    cluster_available=active.cluster_configured(),
                ),
                name="awoooi-drift-schedule",
            )
            if drift.desired and drift.scan_interval
            else None
        )
        retention = settings.retention
        retention_task = (
            asyncio.create_task(
                run_retention_schedule(active.session_factory, retention.interval, stop),
                name="awoooi-retention-schedule",
            )
            if retention.interval and not active.retention_policy.keeps_everything
            else None
        )
        try:
            yield
        finally:
            stop.set()
            if retention_task is not None:
                await retention_task
            if schedule_task is not None:
                await schedule_task
            if worker_task is not None:
                await worker_task
            if owned_runtime:
                await active.dispose()
            log.info("stopped")

    app = FastAPI(
        title="awoooi",
        version=awoooi.__version__,
        description="Self-hosted, privacy-first AIOps for Kubernetes.",
        lifespan=lifespan,
        # /docs is the console's: Swagger UI from the package, never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = active
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(incident_endpoints.router)
    app.include_router(diagnosis_endpoints.router)
    app.include_router(ai_endpoints.router)
    app.include_router(knowledge_endpoints.router)
    app.include_router(repair_endpoints.router)
    app.include_router(notify_endpoints.router)
    app.include_router(drift_endpoints.router)
    install_console(app)
    # Added last = outermost: every response, 413s included, gets a request id and a log line.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app

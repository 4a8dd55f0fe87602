"""`awoooi serve` (API + worker) and `awoooi worker` (workers only)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from awoooi.cli.context import EXIT_CONFIG, CliState, fail, run, settings_from
from awoooi.core.logging import get_logger

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

log = get_logger("awoooi.cli")


def _server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn.Server whose graceful stop on SIGTERM/SIGINT ends the process with exit code 0."""
    # uvicorn re-raises a captured signal once it has shut down, so the process would die of it
    # (exit 143 on SIGTERM) although every request and the lifespan finished cleanly.
    # uvicorn and the API are imported only once `serve` has valid settings: `worker` and a
    # `serve` refused for its settings need neither.
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return Server(config)


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file.", dir_okay=False)
]


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: setting `host`).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: setting `port`).", min=1, max=65535)
    ] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only; run workers elsewhere.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="API processes sharing the port (PostgreSQL only), each with its own job "
            "worker unless --no-worker.",
            min=1,
            max=64,
        ),
    ] = 1,
    config: ConfigOption = None,
) -> None:
    """Migrate the database, then serve the API (and, by default, a job worker)."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = settings_from(ctx, config, **overrides)
    import uvicorn

    from awoooi.core.db import is_sqlite

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "server_header": False,
    }
    if workers > 1:
        if is_sqlite(settings.resolved_database_url):
            # The write gate that keeps SQLite from answering "database is locked" serialises
            # the writers of one process; several processes would fight in SQLite instead.
            raise fail("--workers needs PostgreSQL: SQLite is served by one process", EXIT_CONFIG)
        state: CliState = ctx.find_root().obj or CliState()
        _serve_processes(
            uvicorn.Config(
                # Each process builds its own app (and engine) from the same settings sources:
                # neither an app nor its settings can cross a process boundary.
                functools.partial(
                    _process_app, config or state.config_file, overrides, no_worker, os.getpid()
                ),
                factory=True,
                workers=workers,
                **options,
            )
        )
        return
    from awoooi.api.app import create_app

    app = create_app(settings, run_worker=False if no_worker else None)
    server = _server(uvicorn.Config(app, **options))
    server.run()
    if not server.started:
        raise fail("the server did not start; see the log above")


def _serve_processes(config: uvicorn.Config) -> None:
    """Serve with `config.workers` processes on one socket, replacing any that dies."""
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[config.bind_socket()]).run()


def _process_app(
    config_file: Path | None, overrides: dict[str, Any], no_worker: bool, supervisor: int
) -> FastAPI:
    """The app of one `serve --workers` process, built from the settings in that process."""
    from awoooi.api.app import create_app
    from awoooi.core.logging import configure_logging
    from awoooi.settings import load_settings

    settings = load_settings(config_file, **overrides)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    _stop_with(supervisor)
    return create_app(settings, run_worker=False if no_worker else None)


def _stop_with(supervisor: int, interval: float = 1.0) -> None:
    """Stop this process gracefully once its supervisor is gone (killed with -9, say): a
    worker left behind would keep serving the port and running jobs with nobody to stop it."""

    def watch() -> None:
        # The supervisor's pid comes from the supervisor itself: it may have died while this
        # process was still starting, when os.getppid() already names its new parent.
        while os.getppid() == supervisor:
            time.sleep(interval)
        log.warning("the serve supervisor is gone; stopping", supervisor=supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="awoooi-parent-watch", daemon=True).start()


def worker(
    ctx: typer.Context,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="Worker name in job records.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run job workers only (scale-out), until SIGTERM or Ctrl-C."""
    settings = settings_from(ctx, config)
    from awoooi.runtime import Runtime
    from awoooi.settings import config_warnings

    for warning in config_warnings(settings):
        log.warning("configuration", problem=warning)

    async def main() -> None:
        runtime = Runtime.from_settings(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await runtime.migrate()
            await runtime.worker(worker_id).run(stop)
        finally:
            await runtime.dispose()

    run(main())

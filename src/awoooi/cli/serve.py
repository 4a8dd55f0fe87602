"""`awoooi serve` (API + worker) and `awoooi worker` (workers only)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from awoooi.cli.context import fail, run, settings_from
from awoooi.core.logging import get_logger

if TYPE_CHECKING:
    import uvicorn

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

    from awoooi.api.app import create_app

    app = create_app(settings, run_worker=False if no_worker else None)
    server = _server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            server_header=False,
        )
    )
    server.run()
    if not server.started:
        raise fail("the server did not start; see the log above")


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

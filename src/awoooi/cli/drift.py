"""`awoooi drift scan`: compare Git (or a directory) with the cluster (or a dump)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from awoooi.cli.context import cli_actor, err_console, out_console, settings_from
from awoooi.core.config import Settings
from awoooi.core.db import transaction
from awoooi.core.errors import AwoooiError, ConfigError
from awoooi.drift.report import DriftItem, DriftReport
from awoooi.drift.service import (
    ClusterState,
    DesiredState,
    DriftSourceError,
    DumpState,
    LiveState,
    load_desired,
    save_report,
    scan,
)
from awoooi.runtime import Runtime

app = typer.Typer(
    help="Configuration drift: Git desired state versus the cluster.", no_args_is_help=True
)

EXIT_IN_SYNC = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2
LEVEL_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
MAX_VALUE_CHARS = 80


def _error(message: str) -> typer.Exit:
    err_console.print(Text.assemble(("error: ", "bold red"), message), highlight=False)
    return typer.Exit(EXIT_ERROR)


async def _live_state(
    settings: Settings, live_dump: Path | None, context: str | None
) -> tuple[LiveState, Callable[[], Any] | None]:
    if live_dump is not None:
        return await DumpState.load(live_dump, settings.drift), None
    from awoooi.adapters.kube import LightkubeClient  # only a cluster scan needs the client

    kube = settings.kube
    client = LightkubeClient.connect(
        server=kube.server,
        kubeconfig=str(kube.kubeconfig) if kube.kubeconfig else None,
        context=context,
        in_cluster=kube.in_cluster,
        timeout=kube.timeout_seconds,
    )
    return ClusterState(client, label=f"cluster:{context}"), client.aclose


async def _run(
    settings: Settings,
    desired: str,
    ref: str | None,
    sub_path: str | None,
    live_dump: Path | None,
    context: str | None,
    save: bool,
    show_progress: bool,
) -> DriftReport:
    cache = settings.drift.cache_dir or settings.home / "git-cache"
    state: DesiredState = await load_desired(
        desired, ref=ref, sub_path=sub_path, settings=settings.drift, cache_dir=cache
    )
    live, close = await _live_state(settings, live_dump, context)
    try:
        if show_progress and len(state.manifests) > 50:
            with Progress(
                TextColumn("comparing"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task("scan", total=len(state.manifests))
                report = await scan(
                    state, live, settings.drift, progress=lambda: progress.advance(task)
                )
        else:
            report = await scan(state, live, settings.drift)
    finally:
        if close is not None:
            await close()
    if save:
        runtime = Runtime.from_settings(settings)
        try:
            await runtime.migrate()
            async with transaction(runtime.session_factory) as session:
                record = await save_report(session, report, actor=cli_actor())
            err_console.print(f"saved as drift report {record.id}", highlight=False)
        finally:
            await runtime.dispose()
    return report


def _short(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _table(report: DriftReport, items: list[DriftItem]) -> Group:
    parts: list[Any] = []
    by_resource: dict[str, list[DriftItem]] = {}
    for item in items:
        by_resource.setdefault(str(item.resource), []).append(item)
    for resource, group in by_resource.items():
        table = Table(title=Text(resource, style="bold"), title_justify="left", expand=False)
        for column in ("level", "change", "path", "desired", "live", "reason"):
            table.add_column(column, overflow="fold")
        for item in group:
            style = LEVEL_STYLE[item.level.value] if not item.ignored else "dim"
            table.add_row(
                Text(item.level.value + (" (ignored)" if item.ignored else ""), style=style),
                item.change.value,
                Text(item.path or "-"),
                Text(_short(item.desired)),
                Text(_short(item.live)),
                Text(item.reason),
            )
        parts.append(table)
    summary = report.summary()
    parts.append(
        Text(
            f"{summary['resources']} resources: {summary['in_sync']} in sync, "
            f"{summary['drifted']} drifted, {summary['missing']} missing, {summary['extra']} extra",
            style="bold",
        )
    )
    return Group(*parts)


@app.command("scan")
def scan_command(
    ctx: typer.Context,
    desired: Annotated[
        str, typer.Option("--desired", help="Directory, file or Git URL of the desired state.")
    ],
    ref: Annotated[str | None, typer.Option("--ref", help="Git branch, tag or commit.")] = None,
    path: Annotated[
        str | None, typer.Option("--path", help="Sub-directory inside the desired source.")
    ] = None,
    live_dump: Annotated[
        Path | None,
        typer.Option("--live-dump", help="Directory of `kubectl get -A -o yaml` output."),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Kubeconfig context of the live cluster.")
    ] = None,
    output: Annotated[
        Literal["table", "json"], typer.Option("--format", help="table or json.")
    ] = "table",
    show_ignored: Annotated[
        bool, typer.Option("--show-ignored", help="Also list allowed differences.")
    ] = False,
    save: Annotated[bool, typer.Option("--save", help="Store the report in the database.")] = False,
) -> None:
    """Scan for drift. Exit 0 in sync, 1 drift (or missing/extra resources), 2 error."""
    if (live_dump is None) == (context is None):
        raise _error("give exactly one of --live-dump DIR or --context KUBECONTEXT")
    try:
        settings = settings_from(ctx)
    except typer.Exit as exc:
        raise typer.Exit(EXIT_ERROR) from exc
    try:
        report = asyncio.run(
            _run(
                settings,
                desired,
                ref,
                path,
                live_dump,
                context,
                save,
                show_progress=output == "table" and sys.stderr.isatty(),
            )
        )
    except DriftSourceError as exc:
        raise _error(exc.detail) from None
    except (AwoooiError, ConfigError) as exc:
        raise _error(exc.detail) from None
    except OSError as exc:
        raise _error(f"{type(exc).__name__}: {exc}") from None
    for problem in report.problems:
        label = "warning" if problem.warning else "error"
        style = "yellow" if problem.warning else "bold red"
        err_console.print(Text.assemble((f"{label}: ", style), str(problem)), highlight=False)
    items = report.items if show_ignored else report.reported
    if output == "json":
        sys.stdout.write(json.dumps(report.to_json(show_ignored=show_ignored), default=str) + "\n")
    else:
        out_console.print(_table(report, items))
    if report.has_drift:
        raise typer.Exit(EXIT_DRIFT)
    if any(not problem.warning for problem in report.problems):
        # Nothing drifted in what could be read, but part of Git could not be: not "in sync".
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_IN_SYNC)

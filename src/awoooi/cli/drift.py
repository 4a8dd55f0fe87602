"""`awoooi drift`: scan Git (or a directory) against the cluster (or a dump), then list,
show, roll back, adopt or ignore the saved reports."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from awoooi.cli.backend import Backend, with_backend
from awoooi.cli.context import (
    MAX_ID,
    check_database,
    cli_state,
    err_console,
    local_only,
    out_console,
    settings_from,
)
from awoooi.cli.output import print_json, table, when
from awoooi.core.errors import AwoooiError, ConfigError
from awoooi.drift.report import DriftItem, DriftLevel, DriftReport, ReportStatus
from awoooi.drift.schemas import (
    ActionOut,
    AdoptRequest,
    DriftReportOut,
    DriftReportPage,
    IgnoreRequest,
    RollbackRequest,
)

if TYPE_CHECKING:
    from awoooi.cli.drift_scan import Saved

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


def _scan_json(report: DriftReport, saved: Saved, show_ignored: bool) -> dict[str, Any]:
    """The scan's JSON; a saved scan adds `report_id` and each item's `id`."""
    if saved.report_id is None:
        return report.to_json(show_ignored=show_ignored)
    items = []
    for item, item_id in zip(report.items, saved.item_ids, strict=True):
        if show_ignored or not item.ignored:
            items.append({"id": item_id, **item.to_json()})
    return {"report_id": saved.report_id, "summary": report.summary(), "items": items}


def _short(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _table(report: DriftReport, items: list[DriftItem], *, show_ignored: bool = False) -> Group:
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
    if show_ignored:
        ignored = sum(1 for item in report.items if item.ignored)
        parts.append(
            Text(
                f"{ignored} allowed difference(s) shown as info (ignored)"
                if ignored
                else "no allowed differences: fields only the cluster writes (status, uid, "
                "resourceVersion, managedFields, server defaults) are never compared at all"
            )
        )
    return Group(*parts)


@app.command("scan")
def scan_command(
    ctx: typer.Context,
    desired: Annotated[
        str | None,
        typer.Option(
            "--desired",
            help="Directory, file or Git URL of the desired state (default drift.desired).",
        ),
    ] = None,
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
    cluster: Annotated[
        bool,
        typer.Option("--cluster", help="The cluster of the kube settings (in-cluster in a pod)."),
    ] = False,
    output: Annotated[
        Literal["table", "json"], typer.Option("--format", help="table or json.")
    ] = "table",
    show_ignored: Annotated[
        bool, typer.Option("--show-ignored", help="Also list allowed differences.")
    ] = False,
    save: Annotated[bool, typer.Option("--save", help="Store the report in the database.")] = False,
) -> None:
    """Scan for drift. Exit 0 in sync, 1 drift (or missing/extra resources), 2 error (a
    manifest that cannot be read wins over drift, which is still printed; as `kubectl diff`)."""
    if sum((live_dump is not None, context is not None, cluster)) != 1:
        raise _error("give exactly one of --live-dump DIR, --context KUBECONTEXT or --cluster")
    try:
        settings = settings_from(ctx)
    except typer.Exit as exc:
        raise typer.Exit(EXIT_ERROR) from exc
    desired = desired or settings.drift.desired
    if not desired:
        raise _error("give --desired (or set drift.desired)")
    if save:
        local_only(ctx, "drift scan --save")
        check_database(settings, create=cli_state(ctx).yes)
    # The scanner, the model router and the sources are this command's alone.
    from awoooi.cli.drift_scan import Saved, run_scan
    from awoooi.drift.sources import DriftSourceError

    saved = Saved()
    if live_dump is not None and save:
        live_dump = live_dump.absolute()  # a saved report is read again from another directory
    try:
        report = asyncio.run(
            run_scan(
                settings,
                desired,
                ref,
                path,
                live_dump,
                context,
                save,
                show_progress=output == "table" and sys.stderr.isatty(),
                saved=saved,
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
        sys.stdout.write(json.dumps(_scan_json(report, saved, show_ignored), default=str) + "\n")
    else:
        out_console.print(_table(report, items, show_ignored=show_ignored))
    raise typer.Exit(scan_exit_code(report))


def scan_exit_code(report: DriftReport) -> int:
    """As `kubectl diff`: 2 when part of the desired state could not be read (whatever else was
    found: a CI pipeline must not take a broken manifest for mere drift), else 1 on drift, 0
    in sync. Warnings (files skipped on purpose) are no error."""
    if any(not problem.warning for problem in report.problems):
        return EXIT_ERROR
    return EXIT_DRIFT if report.has_drift else EXIT_IN_SYNC


# ------------------------------------------------------------------ saved reports and actions

ReportId = Annotated[int, typer.Argument(help="Drift report id.", min=1, max=MAX_ID)]
ItemOption = Annotated[
    list[int] | None,
    typer.Option("--item", help="Item id (repeatable); default: all.", min=1, max=MAX_ID),
]
Format = Annotated[Literal["table", "json"], typer.Option("--format", help="table or json.")]


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "-"


@app.command("reports")
def reports_command(
    ctx: typer.Context,
    status: Annotated[ReportStatus | None, typer.Option(help="Only this status.")] = None,
    level: Annotated[DriftLevel | None, typer.Option(help="Only with an item at it.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output: Format = "table",
) -> None:
    """Saved drift reports, newest first."""
    page: DriftReportPage = with_backend(
        ctx, lambda backend: backend.drift_reports(status=status, level=level, limit=limit)
    )
    if output == "json":
        print_json(page)
        return
    shown = table(
        "id",
        "status",
        "started",
        "desired",
        "live",
        "drifted",
        "levels",
        optional=("started", "live"),
    )
    for row in page.items:
        shown.add_row(
            str(row.id),
            row.status,
            when(row.started_at),
            Text(row.desired_source + (f"@{row.desired_ref}" if row.desired_ref else "")),
            Text(row.live_source),
            str(row.summary.get("drifted", 0)),
            ", ".join(f"{count} {level}" for level, count in sorted(row.levels.items())),
        )
    out_console.print(shown)
    out_console.print(f"{len(page.items)} of {page.total}", highlight=False)


@app.command("show")
def show_command(
    ctx: typer.Context,
    report_id: ReportId,
    show_ignored: Annotated[
        bool, typer.Option("--show-ignored", help="Also list allowed differences.")
    ] = False,
    output: Format = "table",
) -> None:
    """One saved report: its problems, its items with their ids and status, and what each
    drift probably is."""
    report: DriftReportOut = with_backend(
        ctx, lambda backend: backend.drift_report(report_id, show_ignored=show_ignored)
    )
    if output == "json":
        print_json(report)
        return
    out_console.print(
        Text.assemble((f"drift report {report.id} ", "bold"), report.status), highlight=False
    )
    for label, value in (
        (
            "desired",
            report.desired_source + (f"@{report.desired_ref}" if report.desired_ref else ""),
        ),
        ("revision", report.revision or "-"),
        ("live", report.live_source),
        ("scanned", f"{_when(report.started_at)} by {report.created_by}"),
        ("error", report.error or ""),
    ):
        if value:
            out_console.print(Text.assemble((f"{label:>9}: ", "dim"), value), highlight=False)
    if report.problems:
        # What the scan could not read, as the API lists it: the report is not the whole truth.
        out_console.print(
            Text.assemble(("problems: ", "bold red"), f"{len(report.problems)}"), highlight=False
        )
        for problem in report.problems:
            out_console.print(Text(f"  - {problem}"), highlight=False)
    for found in report.interpretations:
        where = f"{found['namespace']}/" if found.get("namespace") else ""
        out_console.print(
            Text.assemble(
                (f"{found['kind']}/{where}{found['name']}: ", "bold"),
                (found["intent"], "magenta"),
                f" ({found['source']}, {found['confidence']:.0%}) {found['explanation']}",
            ),
            highlight=False,
        )
    items = table("id", "level", "status", "resource", "change", "path", "desired", "live")
    for item in report.items:
        where = f"{item.namespace}/" if item.namespace else ""
        items.add_row(
            str(item.id),
            Text(item.level, style=LEVEL_STYLE.get(item.level, "")),
            item.status,
            Text(f"{item.kind}/{where}{item.name}"),
            item.change,
            Text(item.path or "-"),
            Text(_short(item.desired)),
            Text(_short(item.live)),
        )
    out_console.print(items)


def _act(
    ctx: typer.Context,
    output: str,
    action: Callable[[Backend], Awaitable[ActionOut]],
) -> None:
    result = with_backend(ctx, action)
    if output == "json":
        print_json(result)
    else:
        _print_result(result)
    if not result.ok:
        raise typer.Exit(EXIT_DRIFT)


def _print_result(result: ActionOut) -> None:
    shown = table("item", "resource", "path", "outcome", "before", "after", "detail", ids=("item",))
    for item in result.items:
        shown.add_row(
            str(item.item_id),
            Text(item.resource),
            Text(item.path or "-"),
            item.outcome,
            Text(_short(item.before)),
            Text(_short(item.after)),
            Text(item.detail),
        )
    out_console.print(shown)
    if result.diff:
        out_console.print(Text(result.diff), highlight=False)
    if result.commit:
        out_console.print(f"committed {result.commit[:12]} to {result.branch}", highlight=False)
    label = " (dry run: nothing changed)" if result.dry_run else ""
    out_console.print(f"report {result.report_id}: {result.report_status}{label}", highlight=False)


@app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    report_id: ReportId,
    item: ItemOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Take fields another manager owns.")
    ] = False,
    delete_extra: Annotated[
        bool, typer.Option("--delete-extra", help="Delete extra resources too.")
    ] = False,
    output: Format = "table",
) -> None:
    """Put Git's state back on the cluster (server-side apply, dry run first). Exit 1 if any
    item could not be rolled back."""
    _act(
        ctx,
        output,
        lambda backend: backend.drift_rollback(
            RollbackRequest(
                report_id=report_id,
                item_ids=item or [],
                dry_run=dry_run,
                force=force,
                delete_extra=delete_extra,
            )
        ),
    )


@app.command("adopt")
def adopt_command(
    ctx: typer.Context,
    report_id: ReportId,
    item: ItemOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the diff, commit nothing.")
    ] = False,
    output: Format = "table",
) -> None:
    """Write the live values into the Git files they came from, commit and push."""
    _act(
        ctx,
        output,
        lambda backend: backend.drift_adopt(
            AdoptRequest(report_id=report_id, item_ids=item or [], dry_run=dry_run)
        ),
    )


@app.command("ignore")
def ignore_command(
    ctx: typer.Context,
    report_id: ReportId,
    item: Annotated[
        list[int], typer.Option("--item", help="Item id (repeatable).", min=1, max=MAX_ID)
    ],
    reason: Annotated[str, typer.Option("--reason", max=500)] = "",
    add_rule: Annotated[
        bool, typer.Option("--add-rule", help="Whitelist each field for later scans.")
    ] = False,
    output: Format = "table",
) -> None:
    """Accept items as they are."""
    _act(
        ctx,
        output,
        lambda backend: backend.drift_ignore(
            IgnoreRequest(report_id=report_id, item_ids=item, reason=reason, add_rule=add_rule)
        ),
    )

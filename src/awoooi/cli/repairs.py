"""`awoooi repairs`: list, show, approve and reject repairs (local database or --server)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from awoooi.cli.backend import with_backend
from awoooi.cli.context import MAX_ID, out_console
from awoooi.cli.output import FormatOption, print_json, table, when
from awoooi.repair.models import RepairStatus
from awoooi.repair.schemas import RepairOut, RepairPage

app = typer.Typer(help="Auto-repairs: decisions, runs, approvals.", no_args_is_help=True)

RepairId = Annotated[int, typer.Argument(help="Repair id.", min=1, max=MAX_ID)]
SECONDS = "%Y-%m-%d %H:%M:%S"


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[RepairStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output: FormatOption = "table",
) -> None:
    """Repairs, newest first."""
    page: RepairPage = with_backend(ctx, lambda b: b.repairs(status=status, limit=limit))
    if output == "json":
        print_json(page)
        return
    shown = table(
        "id",
        "incident",
        "verdict",
        "status",
        "playbook",
        "target",
        "created",
        ids=("id", "incident"),
        whole=("status",),
        optional=("playbook", "created"),
    )
    for repair in page.items:
        shown.add_row(
            str(repair.id),
            repair.incident_id,
            repair.verdict + (f" ({repair.gate})" if repair.gate else ""),
            repair.status,
            Text(repair.playbook_id or "-"),
            Text(repair.target or "-"),
            when(repair.created_at),
        )
    out_console.print(shown)
    out_console.print(f"{len(page.items)} of {page.total}", highlight=False)


@app.command()
def show(ctx: typer.Context, repair_id: RepairId, output: FormatOption = "table") -> None:
    """One repair: its decision with reasons, then its steps."""
    repair: RepairOut = with_backend(ctx, lambda backend: backend.repair(repair_id))
    if output == "json":
        print_json(repair)
        return
    out_console.print(Text.assemble((f"repair #{repair.id} ", "bold"), repair.status))
    for label, value in (
        ("incident", repair.incident_id),
        ("verdict", repair.verdict + (f" (gate {repair.gate})" if repair.gate else "")),
        ("playbook", f"{repair.playbook_id or '-'} {repair.playbook_name or ''}".strip()),
        ("target", repair.target or "-"),
        ("risk", repair.risk or "-"),
        ("dry run", "yes" if repair.dry_run else "no"),
        ("requested by", repair.requested_by),
        ("decided by", f"{repair.decided_by or '-'} at {when(repair.decided_at, SECONDS)}"),
        ("note", repair.decision_note or "-"),
        (
            "started / finished",
            f"{when(repair.started_at, SECONDS)} / {when(repair.finished_at, SECONDS)}",
        ),
        ("execution", f"{repair.execution_ms} ms" if repair.execution_ms is not None else "-"),
        ("error", repair.error or "-"),
    ):
        out_console.print(Text(f"  {label:18} {value}"))
    out_console.print(Text("  reasons:"))
    for reason in repair.reasons:
        out_console.print(Text(f"    - {reason}"))
    steps = table("#", "action", "status", "ms", "detail / error", ids=("#",))
    for step in repair.steps or []:
        steps.add_row(
            str(step.position + 1),
            step.action,
            step.status,
            str(step.duration_ms) if step.duration_ms is not None else "-",
            Text(step.error or step.detail or ""),
        )
    out_console.print(steps)


@app.command()
def approve(
    ctx: typer.Context,
    repair_id: RepairId,
    note: Annotated[str | None, typer.Option(help="Why (kept with the decision).")] = None,
    output: FormatOption = "table",
) -> None:
    """Approve a waiting repair; a worker runs it after checking its gates again."""
    repair: RepairOut = with_backend(ctx, lambda b: b.approve_repair(repair_id, note=note))
    if output == "json":
        print_json(repair)
        return
    out_console.print(f"repair {repair.id} approved: {repair.status}", highlight=False)


@app.command()
def reject(
    ctx: typer.Context,
    repair_id: RepairId,
    reason: Annotated[str, typer.Option(help="Why it must not run (required).")],
    output: FormatOption = "table",
) -> None:
    """Reject a waiting repair; nothing runs."""
    repair: RepairOut = with_backend(ctx, lambda b: b.reject_repair(repair_id, reason=reason))
    if output == "json":
        print_json(repair)
        return
    out_console.print(f"repair {repair.id} rejected", highlight=False)

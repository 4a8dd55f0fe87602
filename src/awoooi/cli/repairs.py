"""`awoooi repairs`: list, show, approve and reject repairs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from awoooi.cli.context import cli_caller, in_transaction, out_console, settings_from
from awoooi.core.errors import NotFoundError
from awoooi.incidents import repository as incidents
from awoooi.repair import repository
from awoooi.repair.models import Repair, RepairStatus, RepairStep

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.runtime import Runtime

app = typer.Typer(help="Auto-repairs: decisions, runs, approvals.", no_args_is_help=True)

RepairId = Annotated[int, typer.Argument(help="Repair id.", min=1)]


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "-"


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[RepairStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Repairs, newest first."""

    async def action(
        _runtime: Runtime, session: AsyncSession
    ) -> tuple[list[tuple[Repair, str]], int]:
        items, total = await repository.list_repairs(session, status=status, limit=limit)
        rows = []
        for repair in items:
            incident = await incidents.get_by_id(session, repair.incident_id)
            rows.append((repair, incident.human_id if incident else str(repair.incident_id)))
        return rows, total

    rows, total = in_transaction(settings_from(ctx), action)
    table = Table("id", "incident", "verdict", "status", "playbook", "target", "created")
    for repair, human_id in rows:
        table.add_row(
            str(repair.id),
            human_id,
            repair.verdict + (f" ({repair.gate})" if repair.gate else ""),
            repair.status,
            repair.playbook_id or "-",
            Text(repair.target or "-"),
            _when(repair.created_at),
        )
    out_console.print(table)
    out_console.print(f"{len(rows)} of {total}", highlight=False)


@app.command()
def show(ctx: typer.Context, repair_id: RepairId) -> None:
    """One repair: its decision with reasons, then its steps."""

    async def action(
        _runtime: Runtime, session: AsyncSession
    ) -> tuple[Repair, list[RepairStep], str]:
        repair = await repository.get(session, repair_id)
        if repair is None:
            raise NotFoundError(f"no repair {repair_id}")
        incident = await incidents.get_by_id(session, repair.incident_id)
        steps = await repository.steps_of(session, repair_id)
        return repair, steps, incident.human_id if incident else str(repair.incident_id)

    repair, steps, human_id = in_transaction(settings_from(ctx), action)
    out_console.print(Text.assemble((f"repair #{repair.id} ", "bold"), repair.status))
    for label, value in (
        ("incident", human_id),
        ("verdict", repair.verdict + (f" (gate {repair.gate})" if repair.gate else "")),
        ("playbook", f"{repair.playbook_id or '-'} {repair.playbook_name or ''}".strip()),
        ("target", repair.target or "-"),
        ("risk", repair.risk or "-"),
        ("dry run", "yes" if repair.dry_run else "no"),
        ("requested by", repair.requested_by),
        ("decided by", f"{repair.decided_by or '-'} at {_when(repair.decided_at)}"),
        ("note", repair.decision_note or "-"),
        ("started / finished", f"{_when(repair.started_at)} / {_when(repair.finished_at)}"),
        ("execution", f"{repair.execution_ms} ms" if repair.execution_ms is not None else "-"),
        ("error", repair.error or "-"),
    ):
        out_console.print(Text(f"  {label:18} {value}"))
    out_console.print(Text("  reasons:"))
    for reason in repair.reasons:
        out_console.print(Text(f"    - {reason}"))
    table = Table("#", "action", "status", "ms", "detail / error")
    for step in steps:
        table.add_row(
            str(step.position + 1),
            step.action,
            step.status,
            str(step.duration_ms) if step.duration_ms is not None else "-",
            Text(step.error or step.detail or ""),
        )
    out_console.print(table)


@app.command()
def approve(
    ctx: typer.Context,
    repair_id: RepairId,
    note: Annotated[str | None, typer.Option(help="Why (kept with the decision).")] = None,
) -> None:
    """Approve a waiting repair; a worker runs it after checking its gates again."""

    async def action(runtime: Runtime, session: AsyncSession) -> Repair:
        return await runtime.repairs.approve(session, repair_id, caller=cli_caller(), note=note)

    repair = in_transaction(settings_from(ctx), action)
    out_console.print(f"repair {repair.id} approved: {repair.status}", highlight=False)


@app.command()
def reject(
    ctx: typer.Context,
    repair_id: RepairId,
    reason: Annotated[str, typer.Option(help="Why it must not run (required).")],
) -> None:
    """Reject a waiting repair; nothing runs."""

    async def action(runtime: Runtime, session: AsyncSession) -> Repair:
        return await runtime.repairs.reject(session, repair_id, caller=cli_caller(), reason=reason)

    repair = in_transaction(settings_from(ctx), action)
    out_console.print(f"repair {repair.id} rejected", highlight=False)

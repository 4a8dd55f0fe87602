"""`awoooi diagnose`: an alert and a cluster dump (or the live cluster) in; target, findings,
evidence and the local model's explanation out. No database: nothing is stored."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from awoooi.cli.context import EXIT_CONFIG, EXIT_ERROR, fail, out_console, settings_from
from awoooi.core.errors import AwoooiError
from awoooi.diagnosis.alert import AlertContext, load_alert
from awoooi.diagnosis.errors import DiagnosisInputError
from awoooi.diagnosis.model import Investigation
from awoooi.diagnosis.service import diagnose as explain
from awoooi.diagnosis.service import investigate
from awoooi.diagnosis.source import DumpSource

if TYPE_CHECKING:
    from awoooi.adapters.settings import KubeSettings
    from awoooi.settings import Settings

MAX_ALERT_BYTES = 4 * 1024 * 1024
SHOWN_FINDINGS = 5
SHOWN_EVIDENCE_LINES = 14


class Format(StrEnum):
    """Output formats."""

    table = "table"
    json = "json"


def _read_alert(path: Path) -> AlertContext:
    try:
        if path.stat().st_size > MAX_ALERT_BYTES:
            raise fail(f"alert file {path} is larger than {MAX_ALERT_BYTES} bytes", EXIT_CONFIG)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read alert file {path}: {exc.strerror or exc}", EXIT_CONFIG) from None
    except UnicodeDecodeError:
        raise fail(f"alert file {path} is not UTF-8 text", EXIT_CONFIG) from None
    try:
        return load_alert(text)
    except DiagnosisInputError as exc:
        raise fail(exc.detail, EXIT_CONFIG) from None


async def _investigate(
    alert: AlertContext, cluster_dump: Path | None, kube: KubeSettings | None
) -> Investigation:
    """The investigation over the dump, else over the live cluster of the `kube` settings."""
    if kube is None:
        assert cluster_dump is not None
        return await investigate(DumpSource(cluster_dump), alert.labels, at=alert.starts_at)
    # Only a live diagnosis needs the Kubernetes client.
    from awoooi.adapters.lightkube_client import LightkubeClient
    from awoooi.diagnosis.live import KubeSource

    client = LightkubeClient.from_settings(kube)
    try:
        return await investigate(KubeSource(client, client), alert.labels, at=alert.starts_at)
    finally:
        await client.aclose()


async def _run(
    alert: AlertContext,
    cluster_dump: Path | None,
    kube: KubeSettings | None,
    settings: Settings | None,
    why_not: str,
) -> tuple[Investigation, dict[str, Any]]:
    investigation = await _investigate(alert, cluster_dump, kube)
    if settings is None:
        diagnosis = await explain(investigation, router=None, incident=alert.describe())
        return investigation, {**diagnosis, "reason": why_not}
    from awoooi.ai.router import Router

    router = Router(settings.ai)
    try:
        diagnosis = await explain(
            investigation,
            router=router,
            incident=alert.describe(),
            max_prompt_chars=settings.ai.max_prompt_chars,
        )
    finally:
        await router.aclose()
    return investigation, diagnosis


def diagnose(
    ctx: typer.Context,
    alert: Annotated[
        Path,
        typer.Option(
            "--alert", help="Alertmanager v4 webhook payload or generic alert (JSON file)."
        ),
    ],
    cluster_dump: Annotated[
        Path | None,
        typer.Option(
            "--cluster-dump",
            help="Directory written by `kubectl cluster-info dump --output-directory`.",
        ),
    ] = None,
    cluster: Annotated[
        bool,
        typer.Option("--cluster", help="Read the live cluster of the kube settings (read-only)."),
    ] = False,
    output: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Do not ask a model: the findings are the answer.")
    ] = False,
) -> None:
    """Diagnose an alert from a cluster dump or the live cluster: evidence, findings, diagnosis."""
    if cluster and cluster_dump is not None:
        raise fail("give either --cluster-dump DIR or --cluster, not both", EXIT_CONFIG)
    if not cluster and cluster_dump is None:
        raise fail("give --cluster-dump DIR (or --cluster)", EXIT_CONFIG)
    context = _read_alert(alert)
    loaded = settings_from(ctx) if cluster or not no_model else None
    kube = None
    if cluster:
        from awoooi.adapters.settings import KUBE_NOT_CONFIGURED, kube_configured

        assert loaded is not None
        kube = loaded.kube
        if not kube_configured(kube):
            raise fail(KUBE_NOT_CONFIGURED, EXIT_CONFIG)
    settings = None
    why_not = "model not asked (--no-model)"
    if not no_model:
        settings = loaded
        if settings is not None and not settings.ai.diagnose_incidents:
            settings = None  # diagnosis by models is switched off: the rules answer
            why_not = "model not asked (ai.diagnose_incidents is false)"
    try:
        investigation, diagnosis = asyncio.run(_run(context, cluster_dump, kube, settings, why_not))
    except DiagnosisInputError as exc:
        raise fail(exc.detail, EXIT_CONFIG) from None
    except AwoooiError as exc:
        raise fail(exc.detail, EXIT_ERROR) from None
    if output is Format.json:
        typer.echo(json.dumps({**investigation.to_json(), "diagnosis": diagnosis}, indent=1))
        return
    _print_table(investigation, diagnosis, context)


def _print_table(
    investigation: Investigation, diagnosis: dict[str, Any], alert: AlertContext
) -> None:
    """What an SRE reads at 3 a.m.: the target, the top findings with their evidence, then the
    model's summary."""
    print_ = out_console.print
    print_(
        f"[bold]{escape(str(investigation.target))}[/]  alert {escape(alert.name)}",
        highlight=False,
    )
    table = Table("#", "cause", "conf", "finding", "evidence", show_lines=False)
    for n, finding in enumerate(investigation.findings[:SHOWN_FINDINGS], 1):
        table.add_row(
            str(n),
            finding.cause.value,
            f"{finding.confidence:.2f}",
            escape(finding.summary),
            ", ".join(finding.evidence),
        )
    print_(table)
    by_id = {e.id: e for e in investigation.evidence}
    top = investigation.top
    for evidence_id in top.evidence if top else ():
        item = by_id.get(evidence_id)
        if item is None:
            continue
        lines = item.text.splitlines()
        shown = lines
        if len(lines) > SHOWN_EVIDENCE_LINES:
            # A log's end says why it stopped; other evidence reads from the top.
            keep = SHOWN_EVIDENCE_LINES - 1
            shown = (
                [lines[0], "…", *lines[-keep:]] if item.source == "logs" else [*lines[:keep], "…"]
            )
        print_(f"[bold]{item.id}[/] [dim]{escape(item.source)}[/]", highlight=False)
        print_(escape("\n".join(f"  {line}" for line in shown)), highlight=False)
    by = diagnosis.get("by")
    if by == "model":
        head = f"Diagnosis by model ({diagnosis.get('provider')})"
        if diagnosis.get("cause"):
            head += f", cause {diagnosis['cause']}"
    else:
        head = f"Diagnosis by rules ({diagnosis.get('reason')})"
    print_(f"[bold]{escape(head)}[/]", highlight=False)
    print_(escape(str(diagnosis.get("summary") or "")), highlight=False)
    print_(
        f"[dim]{len(investigation.evidence)} pieces of evidence; --format json shows them all[/]",
        highlight=False,
    )

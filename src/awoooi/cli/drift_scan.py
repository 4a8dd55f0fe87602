"""`awoooi drift scan`'s work: read the desired and the live state, compare them, and save the
report. Its own module: the other drift commands need none of the scanner, interpreter or model
router it imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from awoooi.adapters.git import GitCli
from awoooi.cli.context import cli_actor, err_console
from awoooi.core.db import transaction
from awoooi.drift.interpret import interpret_report
from awoooi.drift.scan import scan
from awoooi.drift.scanning import announce, save_report, stored_rules, with_rules
from awoooi.drift.sources import (
    ClusterState,
    DesiredState,
    DumpState,
    LiveState,
    ScanSources,
    load_desired,
)

if TYPE_CHECKING:
    from awoooi.drift.report import DriftReport
    from awoooi.drift.settings import DriftSettings
    from awoooi.runtime import Runtime
    from awoooi.settings import Settings


async def _live_state(
    settings: Settings, live_dump: Path | None, context: str | None
) -> tuple[LiveState, Callable[[], Any] | None]:
    if live_dump is not None:
        return await DumpState.load(live_dump, settings.drift), None
    # Only a cluster scan needs the client.
    from awoooi.adapters.lightkube_client import LightkubeClient

    kube = settings.kube
    client = LightkubeClient.connect(
        server=kube.server,
        kubeconfig=str(kube.kubeconfig) if kube.kubeconfig else None,
        context=context or kube.context,
        in_cluster=kube.in_cluster and context is None,
        timeout=kube.timeout_seconds,
    )
    return ClusterState(client, label=f"cluster:{context or 'configured'}"), client.aclose


@dataclass
class Saved:
    """What a saved scan stored: its report id and its items' ids, in the report's order."""

    report_id: int | None = None
    item_ids: list[int] = field(default_factory=list)


async def run_scan(
    settings: Settings,
    desired: str,
    ref: str | None,
    sub_path: str | None,
    live_dump: Path | None,
    context: str | None,
    save: bool,
    show_progress: bool,
    saved: Saved,
) -> DriftReport:
    """Compare the desired state with the live one; with `save`, store the report (interpreted
    by the model when `drift.interpret`) and announce it."""
    cache = settings.drift.cache_dir or settings.home / "git-cache"
    drift = settings.drift
    runtime: Runtime | None = None
    if save:
        # Imported here: a scan that only prints needs none of the runtime's subsystems.
        from awoooi.runtime import Runtime

        runtime = Runtime.from_settings(settings)
    try:
        if runtime is not None:
            await runtime.migrate()
            async with transaction(runtime.session_factory) as session:
                # Fields whitelisted by `awoooi drift ignore --add-rule` count in a saved scan.
                drift = with_rules(drift, await stored_rules(session))
        # A scan that only prints has no runtime: it makes its own git client.
        git = runtime.git if runtime is not None else GitCli()
        state: DesiredState = await load_desired(
            desired, git=git, ref=ref, sub_path=sub_path, settings=drift, cache_dir=cache
        )
        report, live_objects = await _compare(
            settings, drift, state, live_dump, context, show_progress
        )
        if runtime is not None:
            interpretations = await interpret_report(
                runtime.router if drift.interpret else None,
                report.items,
                live_objects,
                max_model_calls=drift.interpret_max_resources,
            )
            sources = ScanSources(
                desired=desired,
                ref=ref,
                path=sub_path,
                live_dump=str(live_dump) if live_dump is not None else None,
                live_context=context or (None if live_dump is not None else "configured"),
            )
            async with transaction(runtime.session_factory) as session:
                record, items = await save_report(
                    session,
                    report,
                    actor=cli_actor(),
                    sources=sources,
                    interpretations=[found.to_json() for found in interpretations],
                )
                await announce(
                    session,
                    record,
                    report,
                    levels=drift.notify_levels,
                    channels=runtime.notify_policy,
                    public_url=settings.public_url,
                )
            saved.report_id = record.id
            saved.item_ids = [item.id for item in items]
            err_console.print(f"saved as drift report {record.id}", highlight=False)
    finally:
        if runtime is not None:
            await runtime.dispose()
    return report


async def _compare(
    settings: Settings,
    drift: DriftSettings,
    state: DesiredState,
    live_dump: Path | None,
    context: str | None,
    show_progress: bool,
) -> tuple[DriftReport, dict[tuple[str, str, str, str], dict[str, Any]]]:
    live, close = await _live_state(settings, live_dump, context)
    live_objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
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
                    state,
                    live,
                    drift,
                    progress=lambda: progress.advance(task),
                    live_objects=live_objects,
                )
        else:
            report = await scan(state, live, drift, live_objects=live_objects)
    finally:
        if close is not None:
            await close()
    return report, live_objects

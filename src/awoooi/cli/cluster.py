"""`awoooi cluster dump`: the live cluster written as the dump `awoooi diagnose --cluster-dump`
reads (Secrets as key names only), for a bug report or an offline replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from awoooi.cli.context import EXIT_CONFIG, EXIT_ERROR, fail, out_console, settings_from
from awoooi.core.errors import AwoooiError
from awoooi.diagnosis.dump_writer import DUMP_LOG_BYTES, DUMP_LOG_LINES, DumpSummary, write_dump
from awoooi.diagnosis.errors import DiagnosisInputError

if TYPE_CHECKING:
    from awoooi.adapters.settings import KubeSettings

app = typer.Typer(help="The cluster: dump what a diagnosis reads.", no_args_is_help=True)


async def _dump(
    kube: KubeSettings, directory: Path, namespaces: list[str], lines: int, size: int
) -> DumpSummary:
    # Loaded here: `awoooi --help` must not import the Kubernetes client.
    from awoooi.adapters.lightkube_client import LightkubeClient
    from awoooi.diagnosis.live import KubeSource

    client = LightkubeClient.from_settings(kube)
    try:
        # cache=False: each List is written and let go, not held for the whole dump.
        source = KubeSource(client, client, cache=False)
        return await write_dump(
            source, directory, namespaces=namespaces or None, log_lines=lines, log_bytes=size
        )
    finally:
        await client.aclose()


@app.command("dump")
def dump(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(help="New or empty directory (an earlier awoooi dump is replaced).")
    ],
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Dump only this namespace (repeatable)."),
    ] = None,
    log_lines: Annotated[
        int, typer.Option("--log-lines", min=1, help="Newest lines kept per container log.")
    ] = DUMP_LOG_LINES,
    log_bytes: Annotated[
        int, typer.Option("--log-bytes", min=1, help="Bytes kept per container log.")
    ] = DUMP_LOG_BYTES,
) -> None:
    """Write the cluster as a `cluster-info dump` directory (Secrets as key names only)."""
    from awoooi.adapters.settings import KUBE_NOT_CONFIGURED, kube_configured

    settings = settings_from(ctx)
    if not kube_configured(settings.kube):
        raise fail(KUBE_NOT_CONFIGURED, EXIT_CONFIG)
    try:
        summary = asyncio.run(
            _dump(settings.kube, directory, list(namespace or []), log_lines, log_bytes)
        )
    except DiagnosisInputError as exc:
        raise fail(exc.detail, EXIT_CONFIG) from None
    except AwoooiError as exc:
        raise fail(exc.detail, EXIT_ERROR) from None
    except OSError as exc:
        raise fail(f"cannot write the dump: {exc}", EXIT_ERROR) from None
    spaces = ", ".join(summary.namespaces) or "none"
    out_console.print(
        f"wrote {summary.directory}: {summary.objects} objects and {summary.logs} container "
        f"logs from namespaces {spaces} (Secrets and ConfigMaps as key names only)",
        highlight=False,
        markup=False,
    )
    for what in summary.skipped:
        out_console.print(f"skipped {what}: not a Kubernetes object name", markup=False)

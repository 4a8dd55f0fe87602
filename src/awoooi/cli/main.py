"""The `awoooi` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import awoooi
from awoooi.cli import (
    ai,
    config,
    db,
    drift,
    incidents,
    jobs,
    kb,
    notify,
    playbooks,
    repairs,
    serve,
    tokens,
)
from awoooi.cli.context import CliState, out_console

app = typer.Typer(
    name="awoooi",
    help="Self-hosted, privacy-first AIOps for Kubernetes.",
    no_args_is_help=True,
    # Rich tracebacks print local variables, which can hold tokens and URLs with passwords.
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="AWOOOI_CONFIG",
            help="YAML config file (also AWOOOI_CONFIG).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """awoooi: alerts become incidents, repairs stay safe, every repair teaches."""
    ctx.obj = CliState(config_file=config)


@app.command()
def version() -> None:
    """Print the version."""
    out_console.print(f"awoooi {awoooi.__version__}", highlight=False)


app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.add_typer(ai.app, name="ai")
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(incidents.app, name="incidents")
app.add_typer(tokens.app, name="tokens")
app.add_typer(jobs.app, name="jobs")
app.add_typer(kb.app, name="kb")
app.add_typer(playbooks.app, name="playbooks")
app.add_typer(repairs.app, name="repairs")
app.add_typer(drift.app, name="drift")
app.add_typer(notify.app, name="notify")


def main() -> None:
    """Console-script entry point."""
    app()

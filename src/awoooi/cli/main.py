"""The `awoooi` command."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup, TyperOption

import awoooi
from awoooi.cli.context import CliState, cli_state, out_console

if TYPE_CHECKING:
    # Typer ships its own copy of click; its groups take that copy's types, not the click package's.
    from typer import _click as click

# Command name -> (module, attribute, the help `awoooi --help` lists). Modules load only when their
# command runs: importing all of them (runtime, API, Kubernetes client) took most of a second on
# every invocation, `awoooi version` included. Attribute "app" is a sub-Typer, anything else a
# command function. tests/cli/test_lazy_cli.py checks that these help texts match the modules'.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": (
        "awoooi.cli.serve",
        "serve",
        "Migrate the database, then serve the API (and, by default, a job worker).",
    ),
    "worker": (
        "awoooi.cli.serve",
        "worker",
        "Run job workers only (scale-out), until SIGTERM or Ctrl-C.",
    ),
    "ai": ("awoooi.cli.ai", "app", "AI providers and routing."),
    "config": ("awoooi.cli.config", "app", "Configuration."),
    "db": ("awoooi.cli.db", "app", "Database schema and retention."),
    "incidents": ("awoooi.cli.incidents", "app", "Incidents."),
    "diagnose": (
        "awoooi.cli.diagnose",
        "diagnose",
        "Diagnose an alert from a cluster dump or the live cluster: evidence, findings, diagnosis.",
    ),
    "cluster": ("awoooi.cli.cluster", "app", "The cluster: dump what a diagnosis reads."),
    "tokens": ("awoooi.cli.tokens", "app", "API tokens."),
    "jobs": ("awoooi.cli.jobs", "app", "Durable jobs."),
    "kb": ("awoooi.cli.kb", "app", "Knowledge base: runbooks, anti-patterns, postmortems."),
    "playbooks": ("awoooi.cli.playbooks", "app", "Repair playbooks: validate and list."),
    "repairs": ("awoooi.cli.repairs", "app", "Auto-repairs: decisions, runs, approvals."),
    "drift": (
        "awoooi.cli.drift",
        "app",
        "Configuration drift: Git desired state versus the cluster.",
    ),
    "notify": ("awoooi.cli.notify", "app", "Notification channels."),
}


def hide_flag_types(command: click.Command) -> None:
    """Show flags (`--help`, `--dry-run`) without a value type in help, in a whole command tree."""
    # Typer's rich help prints every option's type, flags included: `--help <bool>` reads as if
    # the flag took a value. An empty metavar is what the type column then shows.
    command.get_help_option(command.context_class(command))  # made once, then cached
    for param in [*command.params, getattr(command, "_help_option", None)]:
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        if not isinstance(sub, _Placeholder):
            hide_flag_types(sub)


# The commands that read or act through the backend seam (cli/backend.py), and those that only
# use the local database (they refuse a server; --yes lets them create it): they take --server,
# --token and --yes after their name too, as users type them (`awoooi incidents list --server
# URL`). The root's options (and AWOOOI_SERVER / AWOOOI_TOKEN) reach them all the same.
BACKEND_COMMANDS = {
    "incidents": {"list", "show"},
    "repairs": {"list", "show", "approve", "reject"},
    "playbooks": {"list"},
    "jobs": {"list", "retry"},
    "tokens": {"create", "list", "revoke"},
    "notify": {"list"},
    "kb": {"list", "search", "show", "approve", "reject", "export", "import"},
    "drift": {"scan", "reports", "show", "rollback", "adopt", "ignore"},
    "ai": {"providers", "chat"},
}


def _remember_server(ctx: typer.Context, value: str | None) -> None:
    if value:  # unset here: the root's value (or AWOOOI_SERVER) stands
        cli_state(ctx).server = value


def _remember_token(ctx: typer.Context, value: str | None) -> None:
    if value:
        cli_state(ctx).token = value


def _remember_yes(ctx: typer.Context, value: bool) -> None:
    if value:
        cli_state(ctx).yes = True


def _backend_options() -> list[click.Parameter]:
    """Fresh --server, --token and --yes options that write into the root's CliState."""
    holder = typer.Typer(add_completion=False)

    @holder.command()
    def options(
        server: Annotated[
            str | None,
            typer.Option(
                "--server", help=SERVER_HELP, callback=_remember_server, expose_value=False
            ),
        ] = None,
        token: Annotated[
            str | None,
            typer.Option("--token", help=TOKEN_HELP, callback=_remember_token, expose_value=False),
        ] = None,
        yes: Annotated[
            bool,
            typer.Option("--yes", "-y", help=YES_HELP, callback=_remember_yes, expose_value=False),
        ] = False,
    ) -> None:
        """Only its options are used."""

    made = typer.main.get_command(holder).params
    return [param for param in made if param.name in {"server", "token", "yes"}]


def add_backend_options(group: click.Command, name: str) -> None:
    """Give the backend commands of a loaded group --server, --token and --yes."""
    leaves = BACKEND_COMMANDS.get(name, set())
    for leaf_name, leaf in getattr(group, "commands", {}).items():
        if leaf_name in leaves and not any(param.name == "server" for param in leaf.params):
            leaf.params.extend(_backend_options())


class _Placeholder(TyperCommand):
    """Stands in for a command not loaded yet; only help listings ever see it."""


class LazyGroup(TyperGroup):
    """The root group: loads a command's module the first time the command is looked up."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_, _, help_text) in LAZY_COMMANDS.items():
            # Placeholders keep the listing order and the "Did you mean" suggestions complete.
            self.commands.setdefault(name, _Placeholder(name, help=help_text))
        self._listing = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, loading its module unless this is only a help listing."""
        command = self.commands.get(cmd_name)
        if isinstance(command, _Placeholder) and not self._listing:
            command = self.commands[cmd_name] = self._load(cmd_name)
            add_backend_options(command, cmd_name)
        if command is not None and not isinstance(command, _Placeholder):
            hide_flag_types(command)
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Help that lists every command from the table, importing none of them."""
        self._listing = True
        hide_flag_types(self)
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def _load(self, name: str) -> click.Command:
        module_name, attribute, _ = LAZY_COMMANDS[name]
        target = getattr(importlib.import_module(module_name), attribute)
        # Built as `app.add_typer(...)` / `app.command(...)` on the root would build it.
        holder = typer.Typer()
        command: click.Command
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
            command = typer.main.get_group_from_info(
                holder.registered_groups[0],
                pretty_exceptions_short=app.pretty_exceptions_short,
                suggest_commands=self.suggest_commands,
                rich_markup_mode=self.rich_markup_mode,
            )
        else:
            holder.command(name)(target)
            command = typer.main.get_command_from_info(
                holder.registered_commands[0],
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=self.rich_markup_mode,
            )
        return command


app = typer.Typer(
    name="awoooi",
    cls=LazyGroup,
    help="Self-hosted, privacy-first AIOps for Kubernetes.",
    no_args_is_help=True,
    # Rich tracebacks print local variables, which can hold tokens and URLs with passwords.
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


SERVER_HELP = "Use this awoooi's HTTP API instead of the local database (also AWOOOI_SERVER)."
TOKEN_HELP = "API token for --server (also AWOOOI_TOKEN)."
YES_HELP = "Create a new local database if there is none (else the command refuses)."


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
    server: Annotated[
        str | None, typer.Option("--server", envvar="AWOOOI_SERVER", help=SERVER_HELP)
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="AWOOOI_TOKEN", help=TOKEN_HELP, show_envvar=False),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)] = False,
) -> None:
    """awoooi: alerts become incidents, repairs stay safe, every repair teaches."""
    ctx.obj = CliState(config_file=config, server=server or None, token=token or None, yes=yes)


@app.command()
def version() -> None:
    """Print the version."""
    out_console.print(f"awoooi {awoooi.__version__}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()

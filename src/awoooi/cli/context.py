"""Shared CLI plumbing: settings loading, running coroutines, errors turned into exit codes."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import typer
from rich.console import Console

from awoooi.core.errors import AwoooiError, ConfigError

# Settings, logging, the database and the runtime are imported where used: `awoooi --help` and
# `version` need none of them, and the runtime alone pulls in every subsystem (commands that only
# read or write rows use `with_database`).
if TYPE_CHECKING:
    from awoooi.core.audit import Caller
    from awoooi.database import Database
    from awoooi.runtime import Runtime
    from awoooi.settings import Settings

T = TypeVar("T")

# soft_wrap: piped output (scripts, tests) must not be cut into 80-column lines.
err_console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)

EXIT_ERROR = 1
# The largest row id (core.inputs.MAX_ROW_ID, kept here so `--help` imports no pydantic): a
# larger id is refused by the argument parser, not sent to the database.
MAX_ID = 2**31 - 1
EXIT_CONFIG = 2


@dataclass
class CliState:
    """What the root command (and the shared options of a command) learned: the config file to
    read, the server to ask instead of the local database, and whether a new database may be
    created."""

    config_file: Path | None = None
    server: str | None = None
    token: str | None = None
    yes: bool = False


def cli_state(ctx: typer.Context) -> CliState:
    """The state the root command keeps for every command."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def local_only(ctx: typer.Context, command: str) -> None:
    """Exit 2 when a server was given to a command that only works on the local database."""
    if cli_state(ctx).server:
        raise fail(
            f"{command} works on the local database only; run it where awoooi's database is "
            "(unset AWOOOI_SERVER / drop --server)",
            EXIT_CONFIG,
        )


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print an error to stderr and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def settings_from(
    ctx: typer.Context, config_file: Path | None = None, **overrides: Any
) -> Settings:
    """Load settings (the command's --config wins over the root's), exiting 2 when invalid."""
    from awoooi.core.logging import configure_logging
    from awoooi.settings import load_settings

    state: CliState = ctx.find_root().obj or CliState()
    try:
        settings = load_settings(config_file or state.config_file, **overrides)
    except ConfigError as exc:
        raise fail(exc.detail, EXIT_CONFIG) from None
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    return settings


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; expected errors become a message and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except AwoooiError as exc:
        code = EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_ERROR
        raise fail(exc.detail, code) from None
    except OSError as exc:  # database unreachable, port taken, unreadable file
        raise fail(f"{type(exc).__name__}: {exc}") from None


def new_database(settings: Settings) -> Path | None:
    """The SQLite file connecting would create (None: it exists, or the database is not a file)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return None if path.exists() else path


def check_database(settings: Settings, *, create: bool) -> None:
    """Exit 2, creating nothing, when the command would create a new SQLite database unasked."""
    path = new_database(settings)
    if path is None or create:
        return
    # A command run from the wrong directory silently made ./.awoooi/awoooi.db and answered
    # "0 of 0": an empty database looks like a healthy one with nothing in it.
    raise fail(
        f"no awoooi database at {path} (home {settings.home}). This command would create a new, "
        "empty one. To use it anyway, run `awoooi db upgrade` first or pass --yes; to use an "
        "existing one, set AWOOOI_HOME to its home (`make run` uses .awoooi in the repository) "
        "or reach a running server with --server URL --token TOKEN.",
        EXIT_CONFIG,
    )


class _Opened(Protocol):
    """What `with_runtime` and `with_database` open: something that migrates and disposes."""

    async def migrate(self) -> None: ...

    async def dispose(self) -> None: ...


Opened = TypeVar("Opened", bound=_Opened)


def _with_opened(
    settings: Settings,
    open_from: Callable[[Settings], Opened],
    action: Callable[[Opened], Awaitable[T]],
    *,
    migrate: bool,
    create: bool,
) -> T:
    check_database(settings, create=create or not migrate)

    async def main() -> T:
        opened = open_from(settings)
        try:
            if migrate:
                await opened.migrate()
            return await action(opened)
        finally:
            await opened.dispose()

    return run(main())


def with_runtime(
    settings: Settings,
    action: Callable[[Runtime], Awaitable[T]],
    *,
    migrate: bool = True,
    create: bool = False,
) -> T:
    """Run `action` with a migrated runtime, disposing of it afterwards; a missing SQLite file is
    created (and migrated) only with `create`."""
    from awoooi.runtime import Runtime

    return _with_opened(settings, Runtime.from_settings, action, migrate=migrate, create=create)


def with_database(
    settings: Settings,
    action: Callable[[Database], Awaitable[T]],
    *,
    migrate: bool = True,
    create: bool = False,
) -> T:
    """Run `action` with the database alone (migrated unless told not to), disposing of it
    afterwards; a missing SQLite file is created (and migrated) only with `create`."""
    from awoooi.database import Database

    return _with_opened(settings, Database.from_settings, action, migrate=migrate, create=create)


def cli_caller() -> Caller:
    """The caller of a CLI command, as the services audit it."""
    from awoooi.core.audit import Caller, Door

    return Caller(cli_actor(), Door.CLI)


def cli_actor() -> str:
    """The audit actor for CLI changes: cli:<OS user>."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"

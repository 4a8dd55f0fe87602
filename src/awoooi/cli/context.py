"""Shared CLI plumbing: settings loading, running coroutines, errors turned into exit codes."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from awoooi.core.errors import AwoooiError, ConfigError

# Settings, logging and the runtime are imported where used: `awoooi --help` and `version`
# need none of them, and the runtime alone pulls in every subsystem.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.core.audit import Caller
    from awoooi.runtime import Runtime
    from awoooi.settings import Settings

T = TypeVar("T")

# soft_wrap: piped output (scripts, tests) must not be cut into 80-column lines.
err_console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)

EXIT_ERROR = 1
EXIT_CONFIG = 2


@dataclass
class CliState:
    """What the root command learned: the config file to read."""

    config_file: Path | None = None


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


def with_runtime(
    settings: Settings, action: Callable[[Runtime], Awaitable[T]], *, migrate: bool = True
) -> T:
    """Run `action` with a migrated runtime, disposing of it afterwards."""
    from awoooi.runtime import Runtime

    async def main() -> T:
        runtime = Runtime.from_settings(settings)
        try:
            if migrate:
                await runtime.migrate()
            return await action(runtime)
        finally:
            await runtime.dispose()

    return run(main())


def in_transaction(
    settings: Settings, action: Callable[[Runtime, AsyncSession], Awaitable[T]]
) -> T:
    """Run `action` in one transaction of a migrated runtime, committed when it returns."""
    from awoooi.core.db import transaction

    async def main(runtime: Runtime) -> T:
        async with transaction(runtime.session_factory) as session:
            return await action(runtime, session)

    return with_runtime(settings, main)


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

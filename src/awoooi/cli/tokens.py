"""`awoooi tokens`: create, list and revoke API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from awoooi.cli.context import cli_caller, err_console, in_transaction, out_console, settings_from
from awoooi.core import auth
from awoooi.core.models import ApiToken, Role

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.runtime import Runtime

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Unique token name (shown in the audit log).")],
    role: Annotated[Role, typer.Option(help="viewer < ingest < operator < admin.")],
) -> None:
    """Create a token and print it once; only its hash is stored."""

    async def action(_runtime: Runtime, session: AsyncSession) -> str:
        issued = await auth.issue_token(session, name=name, role=role, caller=cli_caller())
        return issued.secret

    secret = in_transaction(settings_from(ctx), action)
    err_console.print(f"created {role.value} token {name!r}; it is shown only this once:")
    out_console.print(secret, highlight=False, soft_wrap=True)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List tokens (names, roles, use); secrets are never shown."""

    async def action(_runtime: Runtime, session: AsyncSession) -> list[ApiToken]:
        return await auth.list_tokens(session)

    table = Table("name", "role", "prefix", "created", "last used", "revoked")
    for token in in_transaction(settings_from(ctx), action):
        table.add_row(
            token.name,
            token.role,
            token.token_prefix + "…",
            f"{token.created_at:%Y-%m-%d %H:%M}",
            f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "-",
            f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "-",
        )
    out_console.print(table)


@app.command()
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Token name.")]) -> None:
    """Revoke a token; requests using it get 401 from now on."""

    async def action(_runtime: Runtime, session: AsyncSession) -> None:
        await auth.revoke_token(session, name=name, caller=cli_caller())

    in_transaction(settings_from(ctx), action)
    err_console.print(f"revoked token {name!r}")

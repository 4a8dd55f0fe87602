"""`awoooi tokens`: create, list and revoke API tokens (local database or --server)."""

from __future__ import annotations

from typing import Annotated

import typer

from awoooi.api.schemas import TokenCreated, TokenOut
from awoooi.cli.backend import with_backend
from awoooi.cli.context import err_console, out_console
from awoooi.cli.output import FormatOption, print_json, table, when
from awoooi.core.models import Role

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Unique token name (shown in the audit log).")],
    role: Annotated[Role, typer.Option(help="viewer < ingest < operator < admin.")],
    output: FormatOption = "table",
) -> None:
    """Create a token and print it once; only its hash is stored."""
    issued: TokenCreated = with_backend(ctx, lambda b: b.create_token(name=name, role=role))
    if output == "json":
        print_json(issued)
        return
    err_console.print(f"created {role.value} token {name!r}; it is shown only this once:")
    out_console.print(issued.token, highlight=False, soft_wrap=True)


@app.command("list")
def list_(ctx: typer.Context, output: FormatOption = "table") -> None:
    """List tokens (names, roles, use); secrets are never shown."""
    found: list[TokenOut] = with_backend(ctx, lambda backend: backend.tokens())
    if output == "json":
        print_json(found)
        return
    shown = table("name", "role", "prefix", "created", "last used", "revoked", ids=("name",))
    for token in found:
        shown.add_row(
            token.name,
            token.role,
            token.token_prefix + "…",
            when(token.created_at),
            when(token.last_used_at),
            when(token.revoked_at),
        )
    out_console.print(shown)


@app.command()
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Token name.")],
    output: FormatOption = "table",
) -> None:
    """Revoke a token; requests using it get 401 from now on."""
    token: TokenOut = with_backend(ctx, lambda backend: backend.revoke_token(name))
    if output == "json":
        print_json(token)
        return
    err_console.print(f"revoked token {token.name!r}")

"""`awoooi ai`: providers, probes and a one-off chat through the router."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from awoooi.ai.intents import Intent
from awoooi.ai.router import ChatResult
from awoooi.cli.backend import with_backend
from awoooi.cli.context import (
    cli_state,
    err_console,
    fail,
    local_only,
    out_console,
    settings_from,
    with_runtime,
)
from awoooi.cli.output import FormatOption, print_json, table

if TYPE_CHECKING:
    from awoooi.ai.schemas import ProviderOut
    from awoooi.runtime import Runtime

app = typer.Typer(help="AI providers and routing.", no_args_is_help=True)


@app.command()
def providers(ctx: typer.Context, output: FormatOption = "table") -> None:
    """List providers: kind, model, locality and breaker state, then each intent's chain."""
    found: list[ProviderOut] = with_backend(ctx, lambda backend: backend.providers())
    if output == "json":
        print_json(found)
        return
    shown = table("name", "kind", "model", "base url", "locality", "breaker", ids=("name",))
    # Breaker states are read from the database every replica writes them to.
    for provider in found:
        shown.add_row(
            provider.name,
            provider.kind,
            Text(provider.model),
            Text(provider.base_url),
            "local" if provider.local else "CLOUD",
            provider.breaker,
        )
    out_console.print(shown)
    if cli_state(ctx).server:
        return  # the chains are the server's configuration, which the API does not show
    settings = settings_from(ctx)
    chains = table("intent", "chain (then REJECT)", ids=("intent",))
    for intent in Intent:
        chains.add_row(intent.value, " -> ".join(p.name for p in settings.ai.chain(intent)) or "-")
    out_console.print(chains)


@app.command()
def check(ctx: typer.Context) -> None:
    """Probe every provider (lists its models, finds the configured one); exit 1 if any fails."""
    settings = settings_from(ctx)

    async def action(runtime: Runtime) -> list[tuple[str, bool, str]]:
        results = []
        for provider in settings.ai.providers:
            ok, message = await runtime.ai.probe(provider.name)
            results.append((provider.name, ok, message))
        return results

    results = with_runtime(settings, action, migrate=False)
    table = Table("provider", "ok", "detail")
    for name, ok, message in results:
        table.add_row(name, "yes" if ok else "NO", message)
    out_console.print(table)
    if not all(ok for _, ok, _ in results):
        raise typer.Exit(1)


@app.command()
def chat(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The prompt.")],
    intent: Annotated[Intent, typer.Option(help="Routing policy to apply.")] = Intent.CHAT,
) -> None:
    """Send one prompt through the router and print the answer (recorded in the ledger)."""
    local_only(ctx, "ai chat")
    settings = settings_from(ctx)

    async def action(runtime: Runtime) -> ChatResult:
        return await runtime.ai.chat(intent, text)

    result = with_runtime(settings, action, create=cli_state(ctx).yes)
    if result.rejected or not result.success:
        raise fail(result.error or "rejected")
    err_console.print(
        f"[dim]{result.provider} · {result.total_tokens} tokens · ${result.cost_usd:.4f} · "
        f"{result.latency_ms:.0f} ms[/]"
    )
    out_console.print(result.text, highlight=False, markup=False)

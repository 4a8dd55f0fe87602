"""How list and show commands print: a table for people or JSON for programs (`--format`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from rich.table import Table

Output = Literal["table", "json"]
FormatOption = Annotated[
    Output,
    typer.Option("--format", help="table (for people) or json (the API's shape, alone on stdout)."),
]


def print_json(data: BaseModel | Sequence[BaseModel] | dict[str, Any] | list[Any]) -> None:
    """Write one JSON document (a model, a list of models or plain data) and a newline to
    stdout, bypassing rich so nothing is wrapped or coloured."""
    if isinstance(data, BaseModel):
        value: Any = data.model_dump(mode="json")
    elif isinstance(data, Sequence) and all(isinstance(item, BaseModel) for item in data):
        value = [item.model_dump(mode="json") for item in data]
    else:
        value = data
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def table(*columns: str, ids: Sequence[str] = ("id",), title: str | None = None) -> Table:
    """A table whose id columns are never cut or wrapped; the other columns fold to fit the
    terminal (80 columns too)."""
    made = Table(title=title, title_justify="left")
    for name in columns:
        if name in ids:
            made.add_column(name, no_wrap=True, overflow="ignore", min_width=len(name))
        else:
            made.add_column(name, overflow="fold")
    return made


def when(value: Any, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the tables show it, `-` when there is none."""
    return format(value, pattern) if value is not None else "-"

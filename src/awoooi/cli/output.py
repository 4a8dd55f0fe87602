"""How list and show commands print: a table for people or JSON for programs (`--format`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from rich.console import RenderableType
from rich.table import Table

from awoooi.cli.context import out_console

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


NARROW = 100  # below this many columns, tables leave their optional columns out


class FitTable(Table):
    """A rich Table that takes every declared column's cell and drops the left-out ones."""

    def __init__(self, kept: Sequence[bool], **options: Any) -> None:
        super().__init__(**options)
        self.kept = list(kept)

    def add_row(self, *cells: RenderableType | None, **options: Any) -> None:
        """Add a row of one cell per declared column (left-out columns' cells are dropped)."""
        chosen = [cell for cell, keep in zip(cells, self.kept, strict=True) if keep]
        super().add_row(*chosen, **options)


def table(
    *columns: str,
    ids: Sequence[str] = ("id",),
    whole: Sequence[str] = (),
    optional: Sequence[str] = (),
    title: str | None = None,
    width: int | None = None,
) -> FitTable:
    """A table that fits the terminal (80 columns too): id columns and `whole` ones (short
    words such as a status) are never cut or wrapped, `optional` ones are left out on a narrow
    terminal, the rest fold."""
    narrow = (width if width is not None else out_console.width) < NARROW
    kept = [not (narrow and name in optional) for name in columns]
    made = FitTable(kept, title=title, title_justify="left")
    for name, keep in zip(columns, kept, strict=True):
        if not keep:
            continue
        if name in ids or name in whole:
            made.add_column(name, no_wrap=True, overflow="ignore", min_width=len(name))
        else:
            made.add_column(name, overflow="fold")
    return made


def when(value: Any, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the tables show it, `-` when there is none."""
    return format(value, pattern) if value is not None else "-"

"""Diffs as the console shows them: lines marked added, removed, context or header."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import yaml

MAX_DIFF_LINES = 4000


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff and how it is marked (add, del, hunk, file, context)."""

    kind: str
    text: str


def diff_lines(text: str) -> list[DiffLine]:
    """A unified diff's lines, each marked by its first characters (long diffs cut short)."""
    lines = text.splitlines()
    marked = [DiffLine(_kind(line), line) for line in lines[:MAX_DIFF_LINES]]
    if len(lines) > MAX_DIFF_LINES:
        marked.append(DiffLine("hunk", f"… {len(lines) - MAX_DIFF_LINES} more lines not shown"))
    return marked


def _kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "context"


def _value_lines(value: Any) -> list[str]:
    if value is None:
        return []  # absent: nothing on that side
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, sort_keys=False, default_flow_style=False).splitlines()
    return [json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value]


def value_diff(before: Any, after: Any, *, before_label: str, after_label: str) -> list[DiffLine]:
    """The change from one stored value to another, as unified diff lines (YAML for objects)."""
    text = "\n".join(
        difflib.unified_diff(
            _value_lines(before),
            _value_lines(after),
            before_label,
            after_label,
            lineterm="",
        )
    )
    return diff_lines(text)

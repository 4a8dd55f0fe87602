"""Parsing what people type into filters: an empty choice is "any", a wrong one a clear 422."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from awoooi.core.errors import InvalidInputError
from awoooi.core.inputs import storable_text

E = TypeVar("E", bound=StrEnum)


def choice(kind: type[E], value: str | None, name: str) -> E | None:
    """The enum member a filter names; None for an empty filter."""
    if value is None or not value.strip():
        return None
    try:
        return kind(value.strip())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInputError(f"unknown {name} {value[:40]!r}; one of: {allowed}") from None


def text_filter(value: str | None) -> str | None:
    """A free-text filter, trimmed; None when empty."""
    if value is None or not value.strip():
        return None
    return storable_text(value.strip())

"""The one rule for text and times from outside: only what both databases can store gets in.

Text: PostgreSQL cannot store NUL (U+0000) and no UTF-8 text can hold a lone surrogate
(U+D800-U+DFFF, which JSON's `\\ud800` escapes can still carry). Free text (`Text`) has each of
them replaced by U+FFFD, as a UTF-8 decoder does with bytes it cannot read: an alert whose log
tail holds a NUL is still an alert. Names that point at something (paths, refs, token names)
are refused instead (422): a repaired name would point somewhere else.

Times (`UtcTime`) must be aware and exist in UTC (years 1 to 9999), else 422 naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

REPLACEMENT_CHARACTER = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str) -> str:
    """The text with NUL and lone surrogates replaced by U+FFFD."""
    if value.isascii() and "\x00" not in value:
        return value  # the common case, without a regex scan (surrogates are not ASCII)
    return _UNSTORABLE.sub(REPLACEMENT_CHARACTER, value)


def _storable_if_text(value: object) -> object:
    # Before validation: pydantic itself refuses a str holding a lone surrogate.
    return storable_text(value) if isinstance(value, str) else value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "time is out of range: it must lie between years 1 and 9999 in UTC"
        ) from None


STORABLE = BeforeValidator(_storable_if_text)
"""The text rule as Annotated metadata. Placed after a StringConstraints (`Annotated[str,
StringConstraints(max_length=n), STORABLE]`), the length check stays inside pydantic's core
instead of becoming a Python validator: several times faster on every alert label."""

Text = Annotated[str, STORABLE]
UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]

# Row ids are PostgreSQL `integer`s: a larger number names no row, and must be refused at the
# edge rather than reach the driver (an overflow there is a 500).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]

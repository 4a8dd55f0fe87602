"""The `retention:` config section: when and how pruning runs (each domain's section says how
long its rows are kept)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, field_validator

from awoooi.core.config import Section, duration_from_text

MAX_INTERVAL = timedelta(days=31)


class RetentionSettings(Section):
    """Pruning schedule and batch size."""

    interval: timedelta = Field(
        timedelta(hours=1),
        description="How often `serve` queues a prune of old rows; `0` turns the schedule off "
        "(`awoooi db prune` still works).",
    )
    batch_size: int = Field(
        500, ge=1, le=10_000, description="Rows one short prune transaction deletes at most."
    )

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Read seconds given as text and `30m`, `1h30m`, `1d`."""
        return duration_from_text(value)

    @field_validator("interval")
    @classmethod
    def _interval_bounds(cls, value: timedelta) -> timedelta:
        """Zero turns scheduling off; anything else must be at least a minute."""
        if value and value < timedelta(minutes=1):
            raise ValueError("interval must be 0 (off) or at least 1 minute")
        if value > MAX_INTERVAL:
            raise ValueError("interval must be at most 31 days")
        return value

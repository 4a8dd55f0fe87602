"""Incident grouping settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, field_validator

from awoooi.core.config import Section, duration_from_text


class IncidentSettings(Section):
    """Incident grouping and storms."""

    group_window_minutes: float = Field(
        30.0,
        ge=0,
        le=7 * 24 * 60,
        description="An alert joins an open incident with its symptoms seen this recently.",
    )
    max_alerts_per_request: int = Field(
        5000, ge=1, le=100_000, description="Alerts one webhook call may carry."
    )
    retention_days: float = Field(
        180.0,
        ge=0,
        le=36500,
        description="Resolved incidents (with alerts, timeline, diagnoses, repairs) are deleted "
        "this long after resolution; `0` keeps them.",
    )
    storm_threshold: int = Field(
        20,
        ge=0,
        le=100_000,
        description="More new incidents than this in one namespace or on one node within "
        "`storm_window` become children of one storm incident; 0 turns storms off.",
    )
    storm_window: timedelta = Field(
        timedelta(minutes=5),
        description="How far back new incidents count towards a storm (seconds, `5m`, ISO 8601).",
    )

    @field_validator("storm_window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return duration_from_text(value)

    @field_validator("storm_window")
    @classmethod
    def _window_bounds(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(days=1):
            raise ValueError("storm_window must be between 1 second and 1 day")
        return value

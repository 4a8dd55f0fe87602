"""Incident grouping settings."""

from __future__ import annotations

from pydantic import Field

from awoooi.core.config import Section


class IncidentSettings(Section):
    """Incident grouping."""

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

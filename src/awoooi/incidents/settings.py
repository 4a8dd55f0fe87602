"""Incident grouping settings."""

from __future__ import annotations

from pydantic import Field

from awoooi.core.config import Section


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
    storm_threshold: int = Field(
        20,
        ge=0,
        le=100_000,
        description="More new incidents than this in one namespace or on one node within "
        "`storm_window_minutes` become children of one storm incident; 0 turns storms off.",
    )
    storm_window_minutes: float = Field(
        5.0, gt=0, le=24 * 60, description="How far back new incidents count towards a storm."
    )

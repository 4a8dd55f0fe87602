"""The `repair:` config section."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

RiskCeiling = Literal["none", "low", "medium", "high"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

DEFAULT_PATCH_FIELDS = [
    "spec.replicas",
    "spec.template.metadata.annotations.*",
    "spec.template.spec.containers[].name",
    "spec.template.spec.containers[].resources.*",
    "spec.template.spec.containers[].env",
    "spec.template.spec.containers[].env[].*",
]


class FreezeWindow(BaseModel):
    """A time when no repair runs: absolute (`start`..`end`) or weekly (`days` + times)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("freeze", max_length=128)
    start: datetime | None = None
    end: datetime | None = None
    days: list[Weekday] = Field(default_factory=list)
    start_time: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end_time: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
    timezone: str = "UTC"
    namespaces: list[str] = Field(
        default_factory=list, description="Only these namespaces (all when empty)."
    )

    @model_validator(mode="after")
    def _one_shape(self) -> FreezeWindow:
        absolute = self.start is not None or self.end is not None
        weekly = bool(self.days) or self.start_time is not None or self.end_time is not None
        if absolute == weekly:
            raise ValueError("give either start and end, or days with start_time and end_time")
        if absolute:
            if self.start is None or self.end is None or self.start.tzinfo is None:
                raise ValueError("start and end are both needed, with a time zone offset")
            if self.end.tzinfo is None or self.end <= self.start:
                raise ValueError("end must be after start, with a time zone offset")
        elif not self.days or self.start_time is None or self.end_time is None:
            raise ValueError("a weekly window needs days, start_time and end_time")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        return self


class RepairSettings(BaseModel):
    """Auto-repair policy (config section `repair`)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "dry-run"] = Field(
        "auto", description="`dry-run` plans and records repairs but runs nothing."
    )
    on_new_incident: bool = Field(
        True, description="Decide a repair for every new incident (after its diagnosis)."
    )
    playbooks_dir: Path | None = Field(
        None, description="Directory of playbook YAML files (same id overrides a shipped one)."
    )
    include_default_playbooks: bool = Field(True, description="Load the shipped playbooks.")
    auto_approve_max_risk: RiskCeiling = Field(
        "low", description="Riskiest playbook that runs without a human's approval."
    )
    max_repairs_per_target_per_hour: int = Field(
        3, ge=1, le=1000, description="Rate limit per target (namespace/kind/name)."
    )
    approval_ttl_hours: float = Field(
        24.0, gt=0, le=24 * 30, description="A repair waiting for approval expires after this."
    )
    http_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (or host:port) `http.request` steps may call; none when empty.",
    )
    patch_allowed_fields: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PATCH_FIELDS),
        description="Field paths `kube.patch` may change (`*` any rest, `[]` any list item).",
    )
    max_replicas: int = Field(
        50, ge=1, le=10_000, description="Ceiling for `kube.scale`, whatever a playbook says."
    )
    freeze_windows: list[FreezeWindow] = Field(
        default_factory=list, description="Times when no repair runs (absolute or weekly)."
    )

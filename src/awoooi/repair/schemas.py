"""Repair and playbook shapes on the API."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from awoooi.core.inputs import Text
from awoooi.core.redact import redact_structure

# Typing only: rows (and playbooks) are read as objects, and the CLI's --server path builds
# these models from JSON without the ORM.
if TYPE_CHECKING:
    from awoooi.repair.models import Repair, RepairStep
    from awoooi.repair.playbooks import Playbook


class StepOut(BaseModel):
    """One step of a repair."""

    model_config = ConfigDict(from_attributes=True)

    position: int
    action: str
    params: dict[str, Any]
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    detail: str | None
    error: str | None


class RepairOut(BaseModel):
    """A repair: its decision, and its execution when it ran."""

    id: int
    incident_id: str
    playbook_id: str | None
    playbook_name: str | None
    target: str | None
    verdict: str
    gate: str | None
    reasons: list[str]
    status: str
    dry_run: bool
    risk: str | None
    symptoms_hash: str
    anti_pattern_id: int | None
    finding: dict[str, Any] | None = None
    plan: list[dict[str, Any]]
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    execution_ms: int | None
    success: bool | None
    error: str | None
    created_at: datetime
    steps: list[StepOut] | None = None

    @classmethod
    def of(
        cls, repair: Repair, incident_human_id: str, steps: list[RepairStep] | None = None
    ) -> RepairOut:
        """Build from a row (steps only when they were loaded)."""
        fields = {name: getattr(repair, name) for name in cls.model_fields if name != "steps"}
        fields["incident_id"] = incident_human_id
        listed = None if steps is None else [StepOut.model_validate(step) for step in steps]
        return cls(**fields, steps=listed)


class RepairPage(BaseModel):
    """A page of repairs."""

    items: list[RepairOut]
    total: int
    limit: int
    offset: int


class ApproveRepair(BaseModel):
    """Approve a waiting repair (a note is optional)."""

    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(None, max_length=4000)


class RejectRepair(BaseModel):
    """Reject a waiting repair, with a reason."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=4000)


class RunRepair(BaseModel):
    """`POST /incidents/{id}/repair`: decide and, if allowed, run now (`wait`) or on a worker."""

    model_config = ConfigDict(extra="forbid")

    wait: bool = True


class PlaybookOut(BaseModel):
    """A loaded playbook."""

    id: str
    name: str
    description: str
    risk: str
    requires_approval: bool
    match: dict[str, Any]
    target: dict[str, Any] | None
    steps: list[dict[str, Any]]
    verify: dict[str, Any]
    cooldown_seconds: float
    max_attempts: int
    source: str
    digest: str

    @classmethod
    def of(cls, playbook: Playbook) -> PlaybookOut:
        """Build from a validated playbook."""
        dumped = playbook.model_dump(mode="json")
        return cls(
            id=playbook.id,
            name=playbook.name,
            description=playbook.description,
            risk=playbook.risk,
            requires_approval=playbook.requires_approval,
            match=dumped["match"],
            target=dumped["target"],
            # Headers in a playbook may carry credentials; nobody reads them back.
            steps=[redact_structure(step) for step in dumped["steps"]],
            verify=dumped["verify"],
            cooldown_seconds=playbook.cooldown,
            max_attempts=playbook.max_attempts,
            source=playbook.source,
            digest=playbook.digest,
        )

"""A stored diagnosis as the API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

# Typing only: the rows are read as objects, and the CLI's --server path builds these models
# from JSON without the ORM.
if TYPE_CHECKING:
    from awoooi.diagnosis.models import DiagnosisRecord


class TargetOut(BaseModel):
    """The object the alert is about, resolved to its top-level controller."""

    kind: str
    namespace: str
    name: str
    resolved: bool


class DiagnosisOut(BaseModel):
    """A diagnosis: who explained it, the cause, the findings and the evidence they cite."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    by: str
    cause: str | None
    summary: str
    confidence: float | None
    provider: str | None
    target: TargetOut
    findings: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    answer: dict[str, Any]
    requested_by: str
    created_at: datetime

    @classmethod
    def of(cls, record: DiagnosisRecord) -> DiagnosisOut:
        """The API view of a stored diagnosis."""
        return cls(
            id=record.id,
            by=record.made_by,
            cause=record.cause,
            summary=record.summary,
            confidence=record.confidence,
            provider=record.provider,
            target=TargetOut(
                kind=record.target_kind,
                namespace=record.target_namespace,
                name=record.target_name,
                resolved=record.target_resolved,
            ),
            findings=record.findings,
            evidence=record.evidence,
            answer=record.answer,
            requested_by=record.requested_by,
            created_at=record.created_at,
        )


class DiagnoseRequest(BaseModel):
    """Body of `POST /api/v1/incidents/{id}/diagnose`."""

    model_config = ConfigDict(extra="forbid")

    wait: bool = True

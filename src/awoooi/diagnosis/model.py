"""What a diagnosis is made of: the target, pieces of evidence, findings with a cause code."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Cause(StrEnum):
    """The fixed taxonomy of probable causes (shared with repair playbooks' `match.causes`)."""

    OOM_KILLED = "OOM_KILLED"
    APP_CRASH = "APP_CRASH"
    DEPENDENCY_FAILURE = "DEPENDENCY_FAILURE"
    CONFIG_MISSING = "CONFIG_MISSING"
    IMAGE_PULL = "IMAGE_PULL"
    BAD_ROLLOUT = "BAD_ROLLOUT"
    PROBE_FAILURE = "PROBE_FAILURE"
    UNSCHEDULABLE_RESOURCES = "UNSCHEDULABLE_RESOURCES"
    UNSCHEDULABLE_CONSTRAINTS = "UNSCHEDULABLE_CONSTRAINTS"
    VOLUME = "VOLUME"
    NODE_PRESSURE = "NODE_PRESSURE"
    NODE_NOT_READY = "NODE_NOT_READY"
    HPA_MAXED = "HPA_MAXED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    JOB_FAILED = "JOB_FAILED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Evidence:
    """One redacted fact shown to humans and to the model; findings cite it by `id`."""

    id: str
    source: str
    text: str

    def to_json(self) -> dict[str, str]:
        """The evidence as JSON: id, source, text."""
        return {"id": self.id, "source": self.source, "text": self.text}


@dataclass(frozen=True)
class Finding:
    """A rule's verdict: a cause code, why, how sure, and the evidence it rests on."""

    cause: Cause
    summary: str
    confidence: float
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The finding as JSON: cause, summary, confidence, evidence ids."""
        return {
            "cause": self.cause.value,
            "summary": self.summary,
            "confidence": round(self.confidence, 2),
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Target:
    """The object an alert is about, resolved to its top-level controller (or a Node, a Pod)."""

    kind: str
    namespace: str
    name: str

    def to_json(self) -> dict[str, str]:
        """The target as JSON: kind, namespace ("" for cluster-scoped objects), name."""
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else (f"{self.kind} {self.name}")
        )


@dataclass
class Investigation:
    """Everything gathered for one alert: its target, the evidence and the findings."""

    target: Target
    evidence: list[Evidence] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The investigation as JSON: target, findings (most likely first), evidence."""
        return {
            "target": self.target.to_json(),
            "findings": [finding.to_json() for finding in self.findings],
            "evidence": [item.to_json() for item in self.evidence],
        }

    @property
    def top(self) -> Finding | None:
        """The most likely finding, if any."""
        return self.findings[0] if self.findings else None

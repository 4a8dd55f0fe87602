"""What a drift probably is: the intents, and one resource's interpretation (text for humans,
never an action)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from awoooi.drift.report import ResourceId


class DriftIntent(StrEnum):
    """What whoever changed the live object most likely meant to do."""

    HOTFIX = "HOTFIX"
    SCALING = "SCALING"
    DEBUGGING = "DEBUGGING"
    CONFIG_TUNING = "CONFIG_TUNING"
    EXPERIMENT = "EXPERIMENT"
    SECURITY_RISK = "SECURITY_RISK"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Interpretation:
    """The probable intent behind one resource's drift, for humans (never an action)."""

    resource: ResourceId
    intent: DriftIntent
    explanation: str
    confidence: float
    source: str  # "model" or "heuristic"
    managers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The API/CLI JSON shape."""
        return {
            "apiVersion": self.resource.api_version,
            "kind": self.resource.kind,
            "namespace": self.resource.namespace,
            "name": self.resource.name,
            "intent": self.intent.value,
            "explanation": self.explanation,
            "confidence": self.confidence,
            "source": self.source,
            "managers": list(self.managers),
        }

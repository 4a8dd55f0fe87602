"""The alert a diagnosis starts from, read from an Alertmanager v4 webhook payload (its first
firing alert) or a generic alert (`{"alerts": [...]}` or one alert object, as
`POST /api/v1/alerts` takes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from awoooi.diagnosis.errors import AlertError
from awoooi.incidents.alerts import Alert, from_alertmanager, from_generic
from awoooi.incidents.schemas import AlertmanagerWebhook, GenericAlert, GenericAlertBatch

MAX_ANNOTATION_CHARS = 1_000


@dataclass(frozen=True)
class AlertContext:
    """What the diagnosis needs from an alert: its name, labels, annotations and start."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    status: str = "firing"

    @classmethod
    def from_alert(cls, alert: Alert) -> AlertContext:
        """The context of an ingested alert."""
        return cls(
            alert.name, dict(alert.labels), dict(alert.annotations), alert.starts_at, alert.status
        )

    def describe(self) -> dict[str, Any]:
        """The alert as the prompt shows it (long annotations cut)."""
        return {
            "alert": self.name,
            "status": self.status,
            "severity": self.labels.get("severity", ""),
            "started": self.starts_at.isoformat() if self.starts_at else "",
            "labels": self.labels,
            "annotations": {
                k: v if len(v) <= MAX_ANNOTATION_CHARS else v[:MAX_ANNOTATION_CHARS] + " …[cut]"
                for k, v in self.annotations.items()
            },
        }


def _first_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "payload"
    return f"{where}: {error.get('msg', 'invalid')}"


def _pick(alerts: list[Alert]) -> Alert:
    if not alerts:
        raise AlertError("the payload holds no alert")
    return next((a for a in alerts if a.status == "firing"), alerts[0])


def parse_alert(document: Any) -> AlertContext:
    """The alert of a decoded payload; raises `AlertError` with a one-line reason."""
    if not isinstance(document, dict):
        raise AlertError("the alert payload is not a JSON object")
    try:
        if "version" in document:
            alerts = from_alertmanager(AlertmanagerWebhook.model_validate(document))
        elif "alerts" in document:
            alerts = from_generic(GenericAlertBatch.model_validate(document))
        else:
            alerts = from_generic(GenericAlertBatch(alerts=[GenericAlert.model_validate(document)]))
    except ValidationError as exc:
        kind = "Alertmanager webhook" if "version" in document else "generic alert"
        raise AlertError(f"not a valid {kind}: {_first_line(exc)}") from None
    return AlertContext.from_alert(_pick(alerts))


def load_alert(text: str) -> AlertContext:
    """The alert of a JSON payload; raises `AlertError` on bad JSON or an unknown shape."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise AlertError(f"the alert file is not valid JSON: {exc}") from None
    return parse_alert(document)

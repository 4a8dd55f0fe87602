"""Alerts from every source, reduced to one shape before ingestion."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from awoooi.incidents.schemas import AlertmanagerWebhook, GenericAlert, GenericAlertBatch

# Alertmanager sends this for "no end time"; it means the same as absent.
_ZERO_TIME_YEAR = 1


@dataclass(frozen=True)
class Alert:
    """One alert, whatever sent it."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str | None = None
    source: str = "generic"

    @property
    def name(self) -> str:
        """The alert name (signal)."""
        return self.labels.get("alertname", "")


def _real_time(value: datetime | None) -> datetime | None:
    if value is None or value.year == _ZERO_TIME_YEAR:
        return None
    return value


def from_alertmanager(payload: AlertmanagerWebhook) -> list[Alert]:
    """The alerts of an Alertmanager webhook."""
    return [
        Alert(
            fingerprint=alert.fingerprint,
            status=alert.status,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at=_real_time(alert.startsAt),
            ends_at=_real_time(alert.endsAt),
            generator_url=alert.generatorURL,
            source="alertmanager",
        )
        for alert in payload.alerts
    ]


def generic_fingerprint(name: str, labels: dict[str, str]) -> str:
    """Identity of a generic alert: SHA-256 of its name and labels, like Alertmanager's."""
    identity = json.dumps({"alertname": name, **labels}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _generic(alert: GenericAlert) -> Alert:
    labels = {**alert.labels, "alertname": alert.name}
    if alert.severity:
        labels["severity"] = alert.severity
    annotations = dict(alert.annotations)
    if alert.summary:
        annotations["summary"] = alert.summary
    if alert.description:
        annotations["description"] = alert.description
    return Alert(
        fingerprint=alert.fingerprint or generic_fingerprint(alert.name, alert.labels),
        status=alert.status,
        labels=labels,
        annotations=annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        source=alert.source,
    )


def from_generic(batch: GenericAlertBatch) -> list[Alert]:
    """The alerts of a generic batch."""
    return [_generic(alert) for alert in batch.alerts]

"""Request and response bodies: Alertmanager's webhook (version 4), generic alerts, incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from awoooi.diagnosis.schemas import DiagnosisOut
from awoooi.incidents.models import IncidentStatus, Severity

MAX_LABELS = 128
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
LabelValue = Annotated[str, StringConstraints(max_length=4096)]
AnnotationValue = Annotated[str, StringConstraints(max_length=32 * 1024)]


def _few_enough(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} entries")
    return value


Labels = Annotated[dict[LabelName, LabelValue], AfterValidator(_few_enough)]
Annotations = Annotated[dict[LabelName, AnnotationValue], AfterValidator(_few_enough)]


class AlertmanagerAlert(BaseModel):
    """One alert in an Alertmanager webhook."""

    # Fields Alertmanager may add in later versions are ignored, not rejected.
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: AwareDatetime | None = None  # camelCase: Alertmanager's wire names
    endsAt: AwareDatetime | None = None
    generatorURL: str | None = Field(None, max_length=4096)
    fingerprint: str = Field(min_length=1, max_length=64)


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook payload, version 4, exactly as Alertmanager sends it."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=1024)
    groupKey: str = Field("", max_length=8192)
    truncatedAlerts: int = Field(0, ge=0)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Annotations = Field(default_factory=dict)
    externalURL: str = Field("", max_length=4096)
    alerts: list[AlertmanagerAlert]


class GenericAlert(BaseModel):
    """An alert from anything that is not Alertmanager."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256, description="The signal, e.g. HighLatency.")
    status: Literal["firing", "resolved"] = "firing"
    severity: str | None = Field(
        None, max_length=32, description="critical|high|medium|low|info (or a common alias)."
    )
    summary: str | None = Field(None, max_length=32 * 1024)
    description: str | None = Field(None, max_length=32 * 1024)
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    fingerprint: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Identity of the alert; default: a hash of name and labels.",
    )
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    source: str = Field("generic", min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")


class GenericAlertBatch(BaseModel):
    """A batch of generic alerts."""

    model_config = ConfigDict(extra="forbid")

    alerts: list[GenericAlert]


class IngestResult(BaseModel):
    """What ingestion did: the incidents touched and how many alerts were duplicates."""

    incidents: list[str]
    alerts: int
    opened: int
    deduplicated: int
    resolved: int
    ignored: int


class IncidentOut(BaseModel):
    """An incident as the API shows it."""

    id: str
    title: str
    severity: Severity
    status: IncidentStatus
    affected_services: list[str]
    namespace: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    symptoms: dict[str, Any]
    symptoms_hash: str
    source: str
    fingerprints: list[str]
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TimelineEntry(BaseModel):
    """One event of an incident's timeline."""

    at: datetime
    actor: str
    event: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]


class IncidentDetail(IncidentOut):
    """An incident with its timeline and its latest diagnosis (target, findings, evidence)."""

    timeline: list[TimelineEntry]
    diagnosis: DiagnosisOut | None = None


class IncidentPage(BaseModel):
    """A page of incidents."""

    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


class StatusChange(BaseModel):
    """Body of resolve/escalate: an optional reason for the timeline."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)

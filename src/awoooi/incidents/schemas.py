"""Request and response bodies: Alertmanager's webhook (version 4), generic alerts, incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from awoooi.core.inputs import STORABLE, Text, UtcTime, storable_text
from awoooi.diagnosis.schemas import DiagnosisOut
from awoooi.incidents.models import IncidentStatus, Severity

MAX_LABELS = 128
MAX_FINGERPRINT_CHARS = 64
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=256), STORABLE]
LabelValue = Annotated[str, StringConstraints(max_length=4096), STORABLE]
AnnotationValue = Annotated[str, StringConstraints(max_length=32 * 1024), STORABLE]
GeneratorUrl = Annotated[str, StringConstraints(max_length=4096), STORABLE]
Fingerprint = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_FINGERPRINT_CHARS), STORABLE
]


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
    startsAt: UtcTime | None = None  # camelCase: Alertmanager's wire names
    endsAt: UtcTime | None = None
    generatorURL: GeneratorUrl | None = None
    fingerprint: Fingerprint


class RejectedAlert(BaseModel):
    """An alert of a batch that was not taken in, and why (the rest of the batch was)."""

    index: int = Field(description="Its position in the request's `alerts`.")
    fingerprint: str | None
    reason: str


def _fingerprint_of(item: object) -> str | None:
    value = item.get("fingerprint") if isinstance(item, dict) else None
    if isinstance(value, str) and 0 < len(value) <= MAX_FINGERPRINT_CHARS:
        return storable_text(value)
    return None


def _reason(error: ValidationError) -> str:
    # Field names and messages only: the input may be large or hold a secret.
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'alert'}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False)
    )


class AlertBatch(BaseModel):
    """A batch whose invalid alerts are set aside one by one (`rejected`), so one bad alert
    never sinks the others; when none is valid the whole batch is a 422 naming every fault."""

    alert_model: ClassVar[type[BaseModel]]
    _rejected: list[RejectedAlert] = PrivateAttr(default_factory=list)

    @property
    def rejected(self) -> list[RejectedAlert]:
        """The alerts set aside, in request order."""
        return self._rejected

    @model_validator(mode="wrap")
    @classmethod
    def _set_invalid_alerts_aside(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        items = data.get("alerts") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return handler(data)
        try:
            # Almost every batch is valid as a whole: one validation inside pydantic's core,
            # instead of one call per alert from Python.
            return handler(data)
        except ValidationError:
            pass  # find the invalid alerts one by one
        kept: list[BaseModel] = []
        rejected: list[RejectedAlert] = []
        for index, item in enumerate(items):
            try:
                kept.append(cls.alert_model.model_validate(item))
            except ValidationError as exc:
                rejected.append(
                    RejectedAlert(
                        index=index, fingerprint=_fingerprint_of(item), reason=_reason(exc)
                    )
                )
        if rejected and not kept:
            return handler(data)  # raises, naming each field of each alert
        batch = handler({**data, "alerts": kept})
        batch._rejected = rejected
        return batch


class AlertmanagerWebhook(AlertBatch):
    """Alertmanager's webhook payload, version 4, exactly as Alertmanager sends it."""

    model_config = ConfigDict(extra="ignore")
    alert_model = AlertmanagerAlert

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: Text = Field("", max_length=1024)
    groupKey: Text = Field("", max_length=8192)
    truncatedAlerts: int = Field(0, ge=0)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Annotations = Field(default_factory=dict)
    externalURL: Text = Field("", max_length=4096)
    alerts: list[AlertmanagerAlert]


class GenericAlert(BaseModel):
    """An alert from anything that is not Alertmanager."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=256, description="The signal, e.g. HighLatency.")
    status: Literal["firing", "resolved"] = "firing"
    severity: Text | None = Field(
        None, max_length=32, description="critical|high|medium|low|info (or a common alias)."
    )
    summary: Text | None = Field(None, max_length=32 * 1024)
    description: Text | None = Field(None, max_length=32 * 1024)
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    fingerprint: Text | None = Field(
        None,
        min_length=1,
        max_length=MAX_FINGERPRINT_CHARS,
        description="Identity of the alert; default: a hash of name and labels.",
    )
    starts_at: UtcTime | None = None
    ends_at: UtcTime | None = None
    source: str = Field("generic", min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")


class GenericAlertBatch(AlertBatch):
    """A batch of generic alerts."""

    model_config = ConfigDict(extra="forbid")
    alert_model = GenericAlert

    alerts: list[GenericAlert]


class IngestResult(BaseModel):
    """What ingestion did: the incidents touched, how many alerts were duplicates, and the
    alerts set aside (`alerts` + len(`rejected`) is what the request carried)."""

    incidents: list[str]
    alerts: int = Field(description="Alerts taken in.")
    opened: int
    deduplicated: int
    resolved: int
    ignored: int
    rejected: list[RejectedAlert] = Field(default_factory=list)


class IncidentOut(BaseModel):
    """An incident as the API shows it."""

    id: str
    kind: Literal["incident", "storm"] = "incident"
    parent: str | None = Field(None, description="The storm this incident is part of.")
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


class ChildOut(BaseModel):
    """One incident of a storm, as the storm lists it."""

    id: str
    title: str
    severity: Severity
    status: IncidentStatus


class IncidentDetail(IncidentOut):
    """An incident with its timeline and its latest diagnosis (target, findings, evidence);
    a storm with its children."""

    timeline: list[TimelineEntry]
    diagnosis: DiagnosisOut | None = None
    children: list[ChildOut] = Field(default_factory=list)
    children_total: int = 0


class IncidentPage(BaseModel):
    """A page of incidents."""

    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


class StatusChange(BaseModel):
    """Body of resolve/escalate: an optional reason for the timeline."""

    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(None, max_length=2000)

"""From an alert's labels and annotations to a SymptomPattern (the mapping is configurable)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from awoooi.symptoms.normalize import normalize_message
from awoooi.symptoms.pattern import SymptomPattern

# A Deployment's pod: <name>-<ReplicaSet hash>-<5 random>; a StatefulSet's: <name>-<ordinal>;
# a DaemonSet's or a Job's: <name>-<5 random>.
_DEPLOYMENT_POD = re.compile(r"^(?P<owner>[a-z0-9][a-z0-9.-]*?)-[0-9a-f]{6,10}-[a-z0-9]{5}$")
_STATEFULSET_POD = re.compile(r"^(?P<owner>[a-z0-9][a-z0-9.-]*?)-\d+$")
_GENERATED_POD = re.compile(r"^(?P<owner>[a-z0-9][a-z0-9.-]*?)-[a-z0-9]{5}$")
# A CronJob names each Job <cronjob>-<scheduled time in minutes since the epoch>.
_CRONJOB_RUN = re.compile(r"^(?P<owner>[a-z0-9][a-z0-9.-]*?)-\d{8,10}$")
# Label values shorter than this are not substituted in annotation text: "a" or "1" would
# replace letters inside words.
_MIN_SUBSTITUTED_VALUE = 3


class SymptomSettings(BaseModel):
    """How alerts map to symptoms (config section `symptoms`)."""

    model_config = ConfigDict(extra="forbid")

    service_labels: list[str] = Field(
        default=[
            "service",
            "app.kubernetes.io/name",
            "app",
            "k8s_app",
            "deployment",
            "statefulset",
            "daemonset",
            "cronjob",
            "job_name",
            "pod",
            "container",
        ],
        description="Labels naming the service, first present wins; `pod` means the pod's owner.",
    )
    kind_labels: dict[str, str] = Field(
        default={
            "deployment": "Deployment",
            "statefulset": "StatefulSet",
            "daemonset": "DaemonSet",
            "cronjob": "CronJob",
            "job_name": "Job",
            "horizontalpodautoscaler": "HorizontalPodAutoscaler",
            "persistentvolumeclaim": "PersistentVolumeClaim",
        },
        description=(
            "Labels whose presence gives the owner kind, first present wins; else the pod's "
            "owner, else Node when a `node` label is all there is."
        ),
    )
    instance_labels: list[str] = Field(
        default=[
            "pod",
            "instance",
            "ip",
            "pod_ip",
            "host_ip",
            "node",
            "host",
            "hostname",
            "endpoint",
            "value",
            "uid",
            "container_id",
            "image_id",
        ],
        description=(
            "Per-instance labels: their values are masked where annotations quote them "
            "(other label values, such as a `condition`, tell symptoms apart and stay)."
        ),
    )
    exporter_services: list[str] = Field(
        default=[
            "kube-state-metrics",
            "node-exporter",
            "prometheus-node-exporter",
            "kubelet",
            "cadvisor",
            "blackbox-exporter",
        ],
        description="Service label values naming the exporter, not the affected service.",
    )
    signature_annotations: list[str] = Field(
        default=["summary", "message", "description"],
        description="Annotations normalized into error_signature, first present wins.",
    )
    signal_label: str = Field("alertname", description="Label holding the alert name.")


def pod_owner(pod: str) -> tuple[str, str]:
    """The controller name and kind guessed from a pod name (web-7d9f8c6b5d-x2kqz -> web)."""
    for pattern, kind in (
        (_DEPLOYMENT_POD, "Deployment"),
        (_STATEFULSET_POD, "StatefulSet"),
        (_GENERATED_POD, "DaemonSet"),
    ):
        match = pattern.match(pod)
        if match:
            return match.group("owner"), kind
    return pod, "Pod"


def job_owner(job_name: str) -> tuple[str, str]:
    """A Job's owner: `backup-28734120` (a CronJob run, minutes since epoch) -> backup, CronJob."""
    match = _CRONJOB_RUN.match(job_name)
    if match:
        return match.group("owner"), "CronJob"
    return job_name, "Job"


def _services_and_kind(
    labels: Mapping[str, str], settings: SymptomSettings
) -> tuple[list[str], str | None]:
    kind = next((kind for label, kind in settings.kind_labels.items() if labels.get(label)), None)
    exporters = set(settings.exporter_services)
    for label in settings.service_labels:
        value = labels.get(label, "").strip()
        if not value or value in exporters:
            continue
        if label == "pod":
            owner, owner_kind = pod_owner(value)
            return [owner], kind or owner_kind
        if label == "job_name":
            owner, owner_kind = job_owner(value)
            return [owner], owner_kind
        return [value], kind
    if kind is None and labels.get("node"):
        kind = "Node"
    return [], kind


def substitute_label_values(
    text: str, labels: Mapping[str, str], names: Iterable[str] | None = None
) -> str:
    """Replace the values of per-instance labels in annotation text by `<label>` placeholders.

    Annotations are rendered from templates over the labels, so this undoes the rendering
    exactly, before the generic masking rules have to guess.
    """
    chosen = set(SymptomSettings().instance_labels if names is None else names)
    values = sorted(
        (
            (value, name)
            for name, value in labels.items()
            if name in chosen and len(value) >= _MIN_SUBSTITUTED_VALUE
        ),
        key=lambda item: -len(item[0]),
    )
    for value, name in values:
        text = _replace_whole(text, value, f"<{name}>")
    return text


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _replace_whole(text: str, value: str, placeholder: str) -> str:
    """`text` with each occurrence of `value` not inside a word replaced, left to right: what
    re.sub of the escaped value between word-boundary lookarounds does, without compiling a
    pattern for every label value (each pod's name is new, so re's cache never hits)."""
    pieces: list[str] = []
    done = 0
    at = text.find(value)
    while at >= 0:
        end = at + len(value)
        before = text[at - 1] if at > 0 else ""
        after = text[end] if end < len(text) else ""
        if before not in _WORD_CHARS and after not in _WORD_CHARS:
            pieces += (text[done:at], placeholder)
            done = end
            at = text.find(value, end)
        else:
            at = text.find(value, at + 1)
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def error_signature(
    labels: Mapping[str, str], annotations: Mapping[str, str], settings: SymptomSettings
) -> str:
    """The normalized message template of an alert, from its first configured annotation."""
    for name in settings.signature_annotations:
        text = annotations.get(name, "").strip()
        if text:
            masked = substitute_label_values(text, labels, settings.instance_labels)
            return normalize_message(masked)
    return ""


def pattern_from_alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    settings: SymptomSettings | None = None,
) -> SymptomPattern:
    """The SymptomPattern of one alert; per-instance labels (pod, instance, value) never enter."""
    active = settings or SymptomSettings()
    services, kind = _services_and_kind(labels, active)
    return SymptomPattern(
        signal=labels.get(active.signal_label, "") or "unnamed",
        services=services,
        namespace=labels.get("namespace") or None,
        resource_kind=kind,
        error_signature=error_signature(labels, annotations, active),
    )

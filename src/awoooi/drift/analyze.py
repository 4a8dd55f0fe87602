"""Analyzer: which differences are allowed (a whitelist, built in plus configured) and how much
each one matters (`DriftLevel`); Secret values are replaced by short hashes here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from awoooi.core.redact import redact_structure
from awoooi.drift.diff import Difference, Path, format_path, scale_owners
from awoooi.drift.normalize import secret_fingerprint
from awoooi.drift.report import Change, DriftItem, DriftLevel, ResourceId
from awoooi.drift.settings import DriftSettings

_SERVER_METADATA = {
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
}
_IGNORED_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration": "the last-applied annotation",
    "deployment.kubernetes.io/revision": "the Deployment controller's revision counter",
    "kubectl.kubernetes.io/restartedAt": "a rollout restart stamp",
    "argocd.argoproj.io/tracking-id": "Argo CD's resource tracking annotation",
}
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
_CRITICAL_FIELDS = {
    "privileged",
    "allowPrivilegeEscalation",
    "capabilities",
    "runAsUser",
    "runAsNonRoot",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "hostPath",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "procMount",
    "seccompProfile",
    "appArmorProfile",
}
_HIGH_FIELDS = {"image", "command", "args"}
_MEDIUM_FIELDS = {
    "replicas",
    "resources",
    "env",
    "envFrom",
    "ports",
    "volumes",
    "volumeMounts",
    "limits",
    "requests",
}


def _glob(value: str, pattern: str) -> bool:
    # fnmatch reads "[...]" as a character class; paths use brackets for list items.
    def plain(text: str) -> str:
        return text.replace("[", "<").replace("]", ">")

    return fnmatchcase(plain(value), plain(pattern))


@dataclass
class ScanContext:
    """Facts across objects: which workloads an HPA scales."""

    hpa_targets: set[tuple[str, str, str]] = field(default_factory=set)

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> ScanContext:
        """Collect HPA scale targets (namespace, kind, name) from desired and live objects."""
        targets = set()
        for obj in objects:
            if obj.get("kind") != "HorizontalPodAutoscaler":
                continue
            ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
            namespace = (obj.get("metadata") or {}).get("namespace") or ""
            if ref.get("kind") and ref.get("name"):
                targets.add((namespace, str(ref["kind"]), str(ref["name"])))
        return cls(targets)


def ignore_reason(
    resource: ResourceId,
    path: Path,
    text: str,
    live: Mapping[str, Any] | None,
    settings: DriftSettings,
    context: ScanContext,
) -> str:
    """Why a difference at this path is allowed, or "" when it is drift."""
    head = path[0] if path else ""
    if head == "status":
        return "status is written by controllers"
    if head == "metadata" and len(path) >= 2 and path[1] in _SERVER_METADATA:
        return f"metadata.{path[1]} is set by the API server"
    if len(path) >= 3 and path[-2] == "annotations" and path[-1] in _IGNORED_ANNOTATIONS:
        return f"{_IGNORED_ANNOTATIONS[str(path[-1])]} changes on its own"
    if path[-1:] == ("caBundle",):
        return "webhook caBundle is injected by a certificate controller"
    if path == ("spec", "replicas") and live is not None:
        key = (resource.namespace or "", resource.kind, resource.name)
        if key in context.hpa_targets:
            return "replicas are managed by a HorizontalPodAutoscaler"
        # `kubectl scale` writes through the scale subresource too: a hand edit, not an autoscaler.
        imperative = {manager.lower() for manager in settings.imperative_managers}
        owners = [owner for owner in scale_owners(live) if owner.lower() not in imperative]
        if owners:
            return f"replicas are set through the scale subresource by {', '.join(owners)}"
    if (
        settings.ignore_aggregated_rules
        and resource.kind == "ClusterRole"
        and head == "rules"
        and live is not None
        and live.get("aggregationRule")
    ):
        return "rules of an aggregated ClusterRole are filled in by its controller"
    for rule in settings.ignore:
        if (
            _glob(resource.kind, rule.kind)
            and _glob(resource.group, rule.group)
            and _glob(resource.name, rule.name)
            and _glob(resource.namespace or "", rule.namespace)
            and _glob(text, rule.path)
        ):
            return rule.reason
    return ""


def level_of(resource: ResourceId, path: Path, text: str, settings: DriftSettings) -> DriftLevel:
    """How much a difference at this path matters."""
    for rule in settings.levels:
        if _glob(resource.kind, rule.kind) and _glob(text, rule.path):
            return DriftLevel(rule.level)
    names = {segment for segment in path if isinstance(segment, str)}
    head = path[0] if path else ""
    if names & _CRITICAL_FIELDS:
        return DriftLevel.CRITICAL
    if resource.kind in _RBAC_KINDS and head in {"rules", "subjects", "roleRef", "aggregationRule"}:
        return DriftLevel.CRITICAL
    if resource.kind == "Secret" and head in {"data", "stringData"}:
        return DriftLevel.HIGH
    if resource.kind == "Ingress" and len(path) >= 2 and path[1] in {"rules", "tls"}:
        return DriftLevel.HIGH
    if names & _HIGH_FIELDS:
        return DriftLevel.HIGH
    if resource.kind == "ConfigMap" and head in {"data", "binaryData"}:
        return DriftLevel.MEDIUM
    if names & _MEDIUM_FIELDS:
        return DriftLevel.MEDIUM
    if head == "metadata" and len(path) >= 2 and path[1] in {"labels", "annotations"}:
        return DriftLevel.LOW
    if head == "spec":
        return DriftLevel.MEDIUM
    return DriftLevel.LOW


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: secret_fingerprint(item) for key, item in value.items()}
    return secret_fingerprint(value)


def _clean(value: Any) -> Any:
    """Values as shown: strings redacted, values under secret-named keys hidden."""
    return redact_structure(value)


def clean_value(value: Any) -> Any:
    """A value as it may be shown: strings redacted, values under secret-named keys hidden."""
    return _clean(value)


def masked_value(value: Any) -> Any:
    """A Secret value as it may be shown: fingerprints only."""
    return _masked(value)


def analyze(
    resource: ResourceId,
    differences: Sequence[Difference],
    live: Mapping[str, Any] | None,
    settings: DriftSettings,
    context: ScanContext,
    *,
    source_file: str | None = None,
    document_index: int | None = None,
    item_index: int | None = None,
) -> list[DriftItem]:
    """Differences of one resource -> items with level, ignore verdict and safe values."""
    items = []
    secret = resource.kind == "Secret"
    for difference in differences:
        text = format_path(difference.path)
        reason = ignore_reason(resource, difference.path, text, live, settings, context)
        desired, live_value = difference.desired, difference.live
        if difference.path[-1:] == (_LAST_APPLIED,):
            # A copy of the whole object (a Secret's values too): summarized, never shown.
            desired = None if difference.desired is None else "(last-applied configuration)"
            live_value = None if difference.live is None else "(last-applied configuration)"
        elif secret and difference.path and difference.path[0] in {"data", "stringData"}:
            desired, live_value = _masked(desired), _masked(live_value)
        elif secret and not difference.path:
            desired, live_value = None, None
        else:
            desired, live_value = _clean(desired), _clean(live_value)
        items.append(
            DriftItem(
                resource=resource,
                change=Change(difference.change),
                path=text,
                desired=desired,
                live=live_value,
                level=DriftLevel.INFO
                if reason
                else level_of(resource, difference.path, text, settings),
                ignored=bool(reason),
                reason=reason or difference.reason,
                source_file=source_file,
                document_index=document_index,
                item_index=item_index,
                segments=difference.path,
            )
        )
    return items


def resource_item(
    resource: ResourceId,
    change: Change,
    settings: DriftSettings,
    *,
    reason: str,
    source_file: str | None = None,
    document_index: int | None = None,
    item_index: int | None = None,
) -> DriftItem:
    """A `missing` (in Git, not live) or `extra` (live with the tracking label, not in Git) item."""
    if change is Change.MISSING:
        level = DriftLevel.HIGH
    else:
        level = DriftLevel.CRITICAL if resource.kind in _RBAC_KINDS else DriftLevel.MEDIUM
    for rule in settings.levels:
        if _glob(resource.kind, rule.kind) and _glob("", rule.path):
            level = DriftLevel(rule.level)
    return DriftItem(
        resource=resource,
        change=change,
        path="",
        desired=None,
        live=None,
        level=level,
        reason=reason,
        source_file=source_file,
        document_index=document_index,
        item_index=item_index,
    )

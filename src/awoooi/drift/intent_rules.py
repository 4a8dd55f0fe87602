"""The intent of a drift read by rules: signals from the drifted fields' managers, paths and
values, the strongest one explained in a sentence (used when no local model answers usably)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from awoooi.core.redact import redact
from awoooi.drift.diff import LAST_APPLIED, Path, format_path, item_key, scale_owners
from awoooi.drift.field_managers import (
    is_imperative,
    item_managers,
    likely_actors,
    resource_managers,
)
from awoooi.drift.intent import DriftIntent, Interpretation
from awoooi.drift.paths import item_segments
from awoooi.drift.report import Change, DriftItem, ResourceId

MAX_SENTENCE_VALUE = 80  # longer values are left out of explanations, not cut mid-way


@dataclass(frozen=True)
class _Signal:
    intent: DriftIntent
    confidence: float
    item: DriftItem
    what: str  # completes "<field> was changed by <manager>, outside Git: <what>."


# Ties between equally confident signals go to the more specific intent.
_PRIORITY = {
    intent: rank
    for rank, intent in enumerate(
        (
            DriftIntent.SECURITY_RISK,
            DriftIntent.DEBUGGING,
            DriftIntent.SCALING,
            DriftIntent.HOTFIX,
            DriftIntent.EXPERIMENT,
            DriftIntent.CONFIG_TUNING,
            DriftIntent.UNKNOWN,
        )
    )
}
_RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
_RBAC_FIELDS = frozenset({"rules", "subjects", "roleRef", "aggregationRule"})
_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_PROBES = frozenset({"livenessProbe", "readinessProbe", "startupProbe"})
_TIMINGS = frozenset(
    {
        "terminationGracePeriodSeconds",
        "progressDeadlineSeconds",
        "activeDeadlineSeconds",
        "minReadySeconds",
        "revisionHistoryLimit",
        "backoffLimit",
    }
)
_AUTOSCALER_KINDS = frozenset({"HorizontalPodAutoscaler", "ScaledObject", "VerticalPodAutoscaler"})
_AUTOSCALER_FIELDS = frozenset(
    {"minReplicas", "maxReplicas", "metrics", "behavior", "minReplicaCount", "maxReplicaCount"}
)
_SLEEP = re.compile(
    r"(?i)\bsleep\b|\binfinity\b|tail\s+-f\s+/dev/null|while\s+(?:true|:)|\bpause\b"
)
_DEBUG_FLAG = re.compile(
    r"(?i)^--?(?:debug|verbose|trace)\b|^--?v(?:=|\s*)[5-9]$|log[-_]?level[= ](?:debug|trace)"
)
_LOG_LEVEL_NAME = re.compile(r"(?i)log[-_.]?level|verbosity")
_DEBUG_NAME = re.compile(r"(?i)debug|verbose|trace")
_DEBUG_LEVELS = frozenset({"debug", "trace", "verbose", "all"})
_TRUTHY = frozenset({"true", "1", "yes", "on"})
_EXPERIMENT_WORD = re.compile(
    r"(?i)canary|experiment|feature[-_.]?flag|feature|\bflag|a/?b[-_]?test|variant|trial"
)


def _leaves(path: Path, value: Any) -> Iterator[tuple[Path, Any]]:
    """(path, value) of every leaf below a value; keyed list items get their selector."""
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from _leaves((*path, key), sub)
    elif (
        isinstance(value, list)
        and value
        and path
        and isinstance(path[-1], str)
        and all(isinstance(sub, dict) for sub in value)
    ):
        for position, sub in enumerate(value):
            selector = item_key(path[-1], sub)
            yield from _leaves((*path, selector if selector is not None else position), sub)
    else:
        yield path, value


def path_names(path: Path) -> set[str]:
    """The keys along a path (list indexes and item selectors left out)."""
    return {segment for segment in path if isinstance(segment, str)}


def _env_name(path: Path) -> str | None:
    """The variable's name for a path ending in env[name=X].value."""
    if len(path) >= 3 and path[-1] == "value" and path[-3] == "env" and isinstance(path[-2], tuple):
        name = dict(path[-2]).get("name")
        return str(name) if name is not None else None
    return None


def secret_named(path: Path) -> bool:
    """Whether the value at this path is named like a secret (env DB_PASSWORD, api_token)."""
    key = _env_name(path)
    if key is None:
        key = next((s for s in reversed(path) if isinstance(s, str)), None)
    if not key:
        return False
    # The one redactor decides what a secret-named key is; a probe value shows its verdict.
    probe = f"{key}=awoooiprobe"
    return redact(probe) != probe


def _metadata_key(path: Path) -> str | None:
    """The label or annotation key a path points into (metadata.labels.<key>, at any depth)."""
    for position, segment in enumerate(path[:-1]):
        if segment in {"labels", "annotations"} and position and path[position - 1] == "metadata":
            key = path[position + 1]
            return key if isinstance(key, str) else None
    return None


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(part) for part in value)
    return "" if value is None else str(value)


def _security_leaf(path: Path, value: Any) -> str | None:
    """What makes a live leaf security-weakening, or None."""
    last = path[-1] if path else ""
    if last in {"privileged", "allowPrivilegeEscalation", "hostNetwork", "hostPID", "hostIPC"}:
        return f"{last}: true" if value is True else None
    if last == "runAsUser" and not isinstance(value, bool) and value == 0:
        return "running as root (runAsUser: 0)"
    if last == "runAsNonRoot" and value is False:
        return "runAsNonRoot: false"
    if last == "add" and "capabilities" in path_names(path) and value:
        return f"added capabilities {_short(value)}"
    if "hostPath" in path_names(path) and "volumes" in path_names(path) and value:
        return "a hostPath volume"
    return None


def _restriction(path: Path, value: Any) -> str | None:
    """A restriction Git sets that, once gone, weakens security."""
    last = path[-1] if path else ""
    if "securityContext" not in path_names(path) and last != "automountServiceAccountToken":
        return None
    if last in {"runAsNonRoot", "readOnlyRootFilesystem"} and value is True:
        return f"{last}: true"
    if last in {"allowPrivilegeEscalation", "automountServiceAccountToken"} and value is False:
        return f"{last}: false"
    if last == "drop" and "capabilities" in path_names(path) and value:
        return f"dropped capabilities {_short(value)}"
    if "seccompProfile" in path_names(path) or "appArmorProfile" in path_names(path):
        return "its seccomp/AppArmor profile"
    return None


def _leaf_signals(
    item: DriftItem, path: Path, value: Any, managers: Sequence[str]
) -> Iterator[_Signal]:
    """Signals from one live leaf of a drifted field."""
    names = path_names(path)
    last = path[-1] if path else ""
    weak = _security_leaf(path, value)
    if weak:
        yield _Signal(
            DriftIntent.SECURITY_RISK,
            0.8,
            item,
            f"{weak} weakens the workload's isolation, a security risk whatever the intent",
        )
    in_container = bool(names & _CONTAINER_LISTS)
    if "ephemeralContainers" in names and value not in (None, "", [], {}):
        yield _Signal(
            DriftIntent.DEBUGGING,
            0.8,
            item,
            "an ephemeral container is how `debug` sessions attach",
        )
    if in_container and last in {"command", "args"}:
        text = _text(value)
        if _SLEEP.search(text):
            yield _Signal(
                DriftIntent.DEBUGGING,
                0.8,
                item,
                "a container kept idle so someone can exec into it is most likely being debugged",
            )
        elif isinstance(value, list) and any(_DEBUG_FLAG.search(str(arg)) for arg in value):
            yield _Signal(
                DriftIntent.DEBUGGING, 0.65, item, "debug or verbose flags point to debugging"
            )
    if last in {"stdin", "tty", "shareProcessNamespace"} and value is True:
        yield _Signal(
            DriftIntent.DEBUGGING,
            0.7,
            item,
            f"{last}: true is what an interactive debugging session needs",
        )
    env = _env_name(path)
    if env is None and item.resource.kind == "ConfigMap" and len(path) == 2:
        # A ConfigMap key read as an environment variable (envFrom) says the same thing.
        env = str(path[1]) if path[0] == "data" else None
    if env is not None:
        level = _text(value).strip().lower()
        if (_LOG_LEVEL_NAME.search(env) and level in _DEBUG_LEVELS) or (
            _DEBUG_NAME.search(env) and level in _TRUTHY
        ):
            yield _Signal(
                DriftIntent.DEBUGGING,
                0.7,
                item,
                f"turning on debug logging ({env}) points to someone debugging",
            )
        elif _EXPERIMENT_WORD.search(env):
            yield _Signal(
                DriftIntent.EXPERIMENT, 0.6, item, f"{env} looks like a feature flag being tried"
            )
        else:
            yield _Signal(
                DriftIntent.CONFIG_TUNING, 0.55, item, "an environment value was tuned by hand"
            )
    if in_container and last == "image":
        imperative = [m for m in managers if is_imperative(m)]
        if imperative:
            yield _Signal(
                DriftIntent.HOTFIX,
                0.75,
                item,
                "most likely a hotfix rolled out by hand",
            )
        else:
            yield _Signal(
                DriftIntent.HOTFIX,
                0.45,
                item,
                "a new image outside Git is most often a hotfix or a quick rollback",
            )
    if "resources" in names and in_container:
        yield _Signal(
            DriftIntent.CONFIG_TUNING, 0.65, item, "resource requests/limits were tuned by hand"
        )
    if names & _PROBES or names & _TIMINGS or (isinstance(last, str) and "timeout" in last.lower()):
        yield _Signal(
            DriftIntent.CONFIG_TUNING, 0.55, item, "probes, timeouts or limits were tuned by hand"
        )
    key = _metadata_key(path)
    if key is not None and (_EXPERIMENT_WORD.search(key) or _EXPERIMENT_WORD.search(_text(value))):
        yield _Signal(
            DriftIntent.EXPERIMENT,
            0.65,
            item,
            f"the {key} label/annotation marks a canary, an experiment or a feature flag",
        )


def _replica_signal(
    item: DriftItem, managers: Sequence[str], live: Mapping[str, Any] | None
) -> _Signal:
    owners = {m.lower() for m in scale_owners(live)} if live else set()
    autoscalers = [
        m
        for m in managers
        if any(word in m.lower() for word in ("autoscaler", "hpa", "keda"))
        or (m.lower() in owners and not is_imperative(m))
    ]
    if autoscalers:
        return _Signal(DriftIntent.SCALING, 0.8, item, "an autoscaler adjusting capacity to load")
    if any(m.lower() == "kubectl-scale" for m in managers):
        return _Signal(DriftIntent.SCALING, 0.75, item, "scaled by hand with kubectl scale")
    return _Signal(DriftIntent.SCALING, 0.5, item, "the replica count was changed by hand")


def _item_signals(
    resource: ResourceId, item: DriftItem, managers: Sequence[str], live: Mapping[str, Any] | None
) -> list[_Signal]:
    """Every signal one drifted field gives."""
    path = item_segments(item)
    head = path[0] if path else ""
    signals: list[_Signal] = []
    if item.change is Change.EXTRA:
        if resource.kind in _RBAC_KINDS:
            signals.append(
                _Signal(
                    DriftIntent.SECURITY_RISK,
                    0.7,
                    item,
                    "permissions granted outside Git are a security risk whatever the intent",
                )
            )
        else:
            named = _EXPERIMENT_WORD.search(resource.name) is not None
            signals.append(
                _Signal(
                    DriftIntent.EXPERIMENT,
                    0.7 if named else 0.6,
                    item,
                    "a resource created beside the Git-managed ones is most likely an experiment",
                )
            )
        return signals
    if item.change is Change.MISSING:
        return signals
    if resource.kind in _RBAC_KINDS and head in _RBAC_FIELDS:
        signals.append(
            _Signal(
                DriftIntent.SECURITY_RISK,
                0.75,
                item,
                "changed permissions (RBAC) outside Git are a security risk whatever the intent",
            )
        )
    if path == ("spec", "replicas"):
        signals.append(_replica_signal(item, managers, live))
    if resource.kind in _AUTOSCALER_KINDS and path_names(path) & _AUTOSCALER_FIELDS:
        signals.append(
            _Signal(DriftIntent.SCALING, 0.6, item, "the autoscaling bounds were adjusted by hand")
        )
    if resource.kind == "Secret":
        # Paths only: a Secret's values are never looked at, even masked.
        if head in {"data", "stringData"}:
            signals.append(
                _Signal(DriftIntent.CONFIG_TUNING, 0.4, item, "a secret value was replaced by hand")
            )
        return signals
    if resource.kind == "ConfigMap" and head in {"data", "binaryData"}:
        signals.append(
            _Signal(DriftIntent.CONFIG_TUNING, 0.6, item, "configuration data was tuned by hand")
        )
    if LAST_APPLIED in path_names(path):
        return signals
    if item.change in (Change.MODIFIED, Change.ADDED):
        for leaf, value in _leaves(path, item.live):
            signals.extend(_leaf_signals(item, leaf, value, managers))
    if item.change in (Change.MODIFIED, Change.REMOVED):
        live_leaves = dict(_leaves(path, item.live)) if item.live is not None else {}
        for leaf, value in _leaves(path, item.desired):
            lost = _restriction(leaf, value)
            if lost and live_leaves.get(leaf, _GONE) != value:
                signals.append(
                    _Signal(
                        DriftIntent.SECURITY_RISK,
                        0.6,
                        item,
                        f"Git sets {lost} and the live object no longer does, a security risk",
                    )
                )
        if item.change is Change.REMOVED and not signals:
            # A removed field only has desired values: tuning and debugging read them too.
            for leaf, value in _leaves(path, item.desired):
                signals.extend(
                    s
                    for s in _leaf_signals(item, leaf, value, managers)
                    if s.intent is DriftIntent.CONFIG_TUNING
                )
    return signals


_GONE: Any = object()


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hidden(resource: ResourceId, item: DriftItem) -> bool:
    path = item_segments(item)
    return resource.kind == "Secret" or LAST_APPLIED in path_names(path) or secret_named(path)


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _shown(value: Any) -> str | None:
    """A value short enough for a sentence (redacted), or None when it would not read well."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = redact(text)
    return text if len(text) <= MAX_SENTENCE_VALUE else None


def _describe(resource: ResourceId, item: DriftItem, managers: Sequence[str]) -> str:
    """The sentence "<field> was changed from A to B by <manager>" (secret values left out)."""
    actors = likely_actors(managers)
    by = f" by {_join(actors)}" if actors else ""
    path = item.path or format_path(item_segments(item)) or str(resource)
    hidden = _hidden(resource, item)
    desired = None if hidden else _shown(item.desired)
    live = None if hidden else _shown(item.live)
    if item.change is Change.EXTRA:
        return f"{resource} exists in the cluster but not in Git" + (
            f" (created{by})" if by else ""
        )
    if item.change is Change.MISSING:
        return f"{resource} is in Git but not in the cluster"
    if item.change is Change.ADDED:
        return f"{path} was set{f' to {live}' if live else ''}{by}, outside Git"
    if item.change is Change.REMOVED:
        return f"{path} was removed{by}, outside Git"
    values = f" from {desired} to {live}" if desired and live else ""
    return f"{path} was changed{values}{by}, outside Git"


def _others(items: Sequence[DriftItem], chosen: DriftItem) -> str:
    rest = [item.path or item.change.value for item in items if item is not chosen]
    if not rest:
        return ""
    listed = ", ".join(rest[:3]) + (", ..." if len(rest) > 3 else "")
    plural = "s" if len(rest) > 1 else ""
    return f" {len(rest)} other drifted field{plural} on this resource: {listed}."


def heuristic(
    resource: ResourceId, items: Sequence[DriftItem], live: Mapping[str, Any] | None
) -> Interpretation:
    """The intent read by rules from managers, paths and values (no model)."""
    managers = resource_managers(items, live)
    signals: list[_Signal] = []
    per_item: dict[int, list[str]] = {}
    for item in items:
        found = item_managers(item, live)
        per_item[id(item)] = found
        signals.extend(_item_signals(resource, item, found, live))
    security = [s for s in signals if s.intent is DriftIntent.SECURITY_RISK]
    pool = security or signals  # a security risk wins over any other reading
    if not pool:
        return _unknown(resource, items, managers, per_item)
    best = max(pool, key=lambda s: (s.confidence, -_PRIORITY[s.intent]))
    # Other fields pointing the same way make the reading a little surer.
    agreeing = {id(s.item) for s in signals if s.intent is best.intent} - {id(best.item)}
    confidence = round(min(0.8, best.confidence + 0.05 * len(agreeing)), 2)
    described = _describe(resource, best.item, per_item[id(best.item)])
    explanation = f"{described}: {best.what}." + _others(items, best.item)
    return Interpretation(resource, best.intent, explanation, confidence, "heuristic", managers)


def _unknown(
    resource: ResourceId,
    items: Sequence[DriftItem],
    managers: tuple[str, ...],
    per_item: Mapping[int, list[str]],
) -> Interpretation:
    if not items:
        text = f"{resource} has no drifted fields to read an intent from."
    elif items[0].change is Change.MISSING:
        text = (
            f"{_describe(resource, items[0], [])}: it was deleted outside Git or never applied; "
            "nothing says why."
        )
    else:
        first = items[0]
        text = (
            f"{_describe(resource, first, per_item.get(id(first), []))}: the change matches no "
            "known pattern (hotfix, scaling, debugging, tuning, experiment, security risk), so "
            "its intent is unknown." + _others(items, first)
        )
    return Interpretation(resource, DriftIntent.UNKNOWN, text, 0.3, "heuristic", managers)

"""What a drift probably is (hotfix, scaling, debugging, ...), per drifted resource.

A local model reads the drifted fields (values redacted, Secret values never) and names the intent;
its answer is text for humans only, so anything that looks like a command is thrown away. Rules
over the field managers, paths and values give the answer when there is no usable model answer,
and a security-weakening change is always reported as a security risk.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol, cast

from awoooi.ai.intents import Intent
from awoooi.ai.router import ChatResult
from awoooi.core.redact import placeholder, redact
from awoooi.drift.diff import (
    DEFAULT_GITOPS_MANAGERS,
    DEFAULT_IMPERATIVE_MANAGERS,
    LAST_APPLIED,
    FieldTrie,
    Path,
    Segment,
    format_path,
    item_key,
    scale_owners,
)
from awoooi.drift.report import Change, DriftItem, ResourceId

TASK_TYPE = "interpret_drift"
MAX_PROMPT_ITEMS = 40
MAX_VALUE_CHARS = 200
MAX_PROMPT_MANAGERS = 20
MAX_EXPLANATION_CHARS = 1000
MAX_ANSWER_CHARS = 20000  # an answer this long is not the one JSON object asked for
SECRET_OMITTED = "(secret value omitted)"
MAX_SENTENCE_VALUE = 80  # longer values are left out of explanations, not cut mid-way
LAST_APPLIED_OMITTED = "(last-applied configuration omitted)"
DEFAULT_CONFIDENCE = 0.5


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


class ChatRouter(Protocol):
    """The part of `awoooi.ai.router.Router` used here."""

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
    ) -> ChatResult: ...


SYSTEM_PROMPT = (
    "You explain configuration drift in a Kubernetes cluster: fields whose live value differs "
    "from what Git declares. From the fields, their values and the field managers that wrote "
    "them, say what the change most likely is.\n"
    "Answer with one JSON object and nothing else:\n"
    '{"intent": "<one of ' + ", ".join(DriftIntent) + '>", '
    '"explanation": "<one paragraph for a human>", "confidence": <number from 0 to 1>}\n'
    "Use SECURITY_RISK whenever the change weakens security, whatever else it may be.\n"
    "Do not give commands, scripts, patches or fixes, and add no other keys: a human decides "
    "whether the change is rolled back or adopted into Git."
)

# ---------------------------------------------------------------- managers


def _segment(raw: Any) -> Segment:
    """A segment as stored (JSON turns a key selector into lists) back in diff's shape."""
    if isinstance(raw, list):
        return tuple(tuple(pair) if isinstance(pair, list) else pair for pair in raw)
    return cast(Segment, raw)


_PATH_TOKEN = re.compile(r'\["(?P<quoted>[^"]*)"\]|\[(?P<sel>[^\]]*)\]|\.?(?P<key>[^.\[]+)')


def _scalar(text: str) -> Any:
    return int(text) if text.isdigit() else text


def parse_path(text: str) -> Path:
    """Segments back from `format_path` text (for items stored without their segments)."""
    segments: list[Segment] = []
    for match in _PATH_TOKEN.finditer(text):
        if match["quoted"] is not None:
            segments.append(match["quoted"])
        elif match["sel"] is not None:
            inner = match["sel"]
            if inner.isdigit():
                segments.append(int(inner))
            else:
                pairs = (part.partition("=") for part in inner.split(","))
                segments.append(tuple(sorted((key, _scalar(value)) for key, _, value in pairs)))
        else:
            segments.append(match["key"])
    return tuple(segments)


def _segments(item: DriftItem) -> Path:
    if item.segments:
        return tuple(_segment(raw) for raw in item.segments)
    return parse_path(item.path) if item.path else ()


def field_managers(live: Mapping[str, Any] | None, path: Sequence[Segment]) -> list[str]:
    """Managers whose managedFields own the path or its nearest owned ancestor/descendant."""
    if not live:
        return []
    wanted = tuple(_segment(raw) for raw in path)
    exact: list[str] = []
    ancestors: list[tuple[int, bool, str]] = []  # (depth, owns it whole, manager)
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or not entry.get("manager"):
            continue
        if entry.get("subresource") == "status" and wanted[:1] != ("status",):
            continue  # controllers' status writes say nothing about who changed the spec
        fields = entry.get("fieldsV1")
        if not isinstance(fields, dict):
            continue
        manager = str(entry["manager"])
        node = FieldTrie(manager)
        node.add(fields, manager)
        depth = 0
        for segment in wanted:
            child = node.children.get(segment)
            if child is None:
                break
            node, depth = child, depth + 1
        if depth == len(wanted):
            exact.append(manager)  # owns the path itself or fields below it
        elif depth:
            # A leaf above the path is owned whole (an atomic list or map); a node with other
            # children only says the manager wrote siblings.
            ancestors.append((depth, not node.children, manager))
    if exact:
        return list(dict.fromkeys(exact))
    if not ancestors:
        return []
    best = max((whole, depth) for depth, whole, _ in ancestors)
    return list(dict.fromkeys(m for depth, whole, m in ancestors if (whole, depth) == best))


def _item_managers(item: DriftItem, live: Mapping[str, Any] | None) -> list[str]:
    segments = _segments(item)
    found = field_managers(live, segments)
    if segments == ("spec", "replicas") and live:
        found = list(dict.fromkeys([*found, *scale_owners(live)]))
    return found


def _resource_managers(
    items: Sequence[DriftItem], live: Mapping[str, Any] | None
) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for item in items:
        found.update(dict.fromkeys(_item_managers(item, live)))
    return tuple(found)


_IMPERATIVE = frozenset(name.lower() for name in DEFAULT_IMPERATIVE_MANAGERS)
_GITOPS = frozenset(name.lower() for name in DEFAULT_GITOPS_MANAGERS)


def _imperative(manager: str) -> bool:
    name = manager.lower()
    return name in _IMPERATIVE or name.startswith("kubectl")


def _gitops(manager: str) -> bool:
    name = manager.lower()
    return name in _GITOPS or name.startswith(("argocd", "flux"))


def _actors(managers: Sequence[str]) -> list[str]:
    """Who most likely made the change: the appliers of Git are only a last resort."""
    others = [m for m in managers if not _gitops(m)]
    return others or list(managers)


# ---------------------------------------------------------------- heuristics


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


def _names(path: Path) -> set[str]:
    return {segment for segment in path if isinstance(segment, str)}


def _env_name(path: Path) -> str | None:
    """The variable's name for a path ending in env[name=X].value."""
    if len(path) >= 3 and path[-1] == "value" and path[-3] == "env" and isinstance(path[-2], tuple):
        name = dict(path[-2]).get("name")
        return str(name) if name is not None else None
    return None


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
    if last == "add" and "capabilities" in _names(path) and value:
        return f"added capabilities {_short(value)}"
    if "hostPath" in _names(path) and "volumes" in _names(path) and value:
        return "a hostPath volume"
    return None


def _restriction(path: Path, value: Any) -> str | None:
    """A restriction Git sets that, once gone, weakens security."""
    last = path[-1] if path else ""
    if "securityContext" not in _names(path) and last != "automountServiceAccountToken":
        return None
    if last in {"runAsNonRoot", "readOnlyRootFilesystem"} and value is True:
        return f"{last}: true"
    if last in {"allowPrivilegeEscalation", "automountServiceAccountToken"} and value is False:
        return f"{last}: false"
    if last == "drop" and "capabilities" in _names(path) and value:
        return f"dropped capabilities {_short(value)}"
    if "seccompProfile" in _names(path) or "appArmorProfile" in _names(path):
        return "its seccomp/AppArmor profile"
    return None


def _leaf_signals(
    item: DriftItem, path: Path, value: Any, managers: Sequence[str]
) -> Iterator[_Signal]:
    """Signals from one live leaf of a drifted field."""
    names = _names(path)
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
        imperative = [m for m in managers if _imperative(m)]
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
        or (m.lower() in owners and not _imperative(m))
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
    path = _segments(item)
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
    if resource.kind in _AUTOSCALER_KINDS and _names(path) & _AUTOSCALER_FIELDS:
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
    if LAST_APPLIED in _names(path):
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
    path = _segments(item)
    return resource.kind == "Secret" or LAST_APPLIED in _names(path) or _secret_named(path)


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
    actors = _actors(managers)
    by = f" by {_join(actors)}" if actors else ""
    path = item.path or format_path(_segments(item)) or str(resource)
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
    managers = _resource_managers(items, live)
    signals: list[_Signal] = []
    per_item: dict[int, list[str]] = {}
    for item in items:
        found = _item_managers(item, live)
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


# ---------------------------------------------------------------- the model


def _secret_named(path: Path) -> bool:
    """Whether the value at this path is named like a secret (env DB_PASSWORD, api_token)."""
    key = _env_name(path)
    if key is None:
        key = next((s for s in reversed(path) if isinstance(s, str)), None)
    if not key:
        return False
    # The one redactor decides what a secret-named key is; a probe value shows its verdict.
    probe = f"{key}=awoooiprobe"
    return redact(probe) != probe


def _without_last_applied(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: LAST_APPLIED_OMITTED if key == LAST_APPLIED else _without_last_applied(sub)
            for key, sub in value.items()
        }
    if isinstance(value, list):
        return [_without_last_applied(sub) for sub in value]
    return value


def _prompt_value(resource: ResourceId, item: DriftItem, value: Any) -> str:
    if value is None:
        return "(not set)"
    path = _segments(item)
    if resource.kind == "Secret":
        return SECRET_OMITTED  # not even the masked fingerprint: a local model still logs prompts
    if LAST_APPLIED in _names(path):
        return LAST_APPLIED_OMITTED
    if _secret_named(path):
        return placeholder("secret")
    text = json.dumps(_without_last_applied(value), default=str, sort_keys=True, ensure_ascii=False)
    # Redacted before it is cut, so a cut never leaves a partial secret the redactor misses.
    text = redact(text)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "…(truncated)"
    return text


def build_prompt(resource: ResourceId, items: Sequence[DriftItem], managers: Sequence[str]) -> str:
    """The drift of one resource as the model sees it: paths, changes, redacted values."""
    shown = list(managers[:MAX_PROMPT_MANAGERS])
    lines = [
        f"Resource: kind {resource.kind}, apiVersion {resource.api_version}, "
        f"namespace {resource.namespace or '(cluster-scoped)'}, name {resource.name}",
        "Field managers owning the drifted fields: " + (", ".join(shown) or "(none recorded)"),
    ]
    if resource.kind == "Secret":
        lines.append("This is a Secret: only the paths of its drifted fields are shown.")
    lines.append(f"Drifted fields (desired = Git, live = cluster), {len(items)} in all:")
    for item in items[:MAX_PROMPT_ITEMS]:
        lines.append(f"- path: {item.path or format_path(_segments(item)) or '(whole resource)'}")
        lines.append(f"  change: {item.change.value}")
        if item.change not in (Change.EXTRA, Change.MISSING):
            lines.append(f"  desired: {_prompt_value(resource, item, item.desired)}")
            lines.append(f"  live: {_prompt_value(resource, item, item.live)}")
        if item.reason:
            lines.append(f"  note: {item.reason[:MAX_VALUE_CHARS]}")
    if len(items) > MAX_PROMPT_ITEMS:
        lines.append(f"... and {len(items) - MAX_PROMPT_ITEMS} more drifted fields not shown.")
    # Once more over the whole text: names and notes are not values, but may still hold secrets.
    return redact("\n".join(lines))


_FENCE = re.compile(r"```[A-Za-z]*")
_WHITESPACE = re.compile(r"\s+")
_COMMAND_LIKE = re.compile(
    r"(?i)(?<![a-z0-9-])kubectl\s|(?<![a-z0-9-])helm\s|(?<![a-z0-9-])oc\s|\$\s|\$\("
    r"|(?<![a-z0-9-])sudo\s|(?<![a-z0-9-])rm\s+-|(?<![a-z0-9-])curl\s|`|&&|\|\s*(?:ba|z)?sh\b"
)
_ANSWER_KEYS = frozenset({"intent", "explanation", "confidence"})


def _json_objects(text: str) -> list[tuple[dict[str, Any], int, int]]:
    """Every top-level JSON object in the text, with where it starts and ends."""
    decoder = json.JSONDecoder()
    found: list[tuple[dict[str, Any], int, int]] = []
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found.append((value, position, end))
        position = text.find("{", end)
    return found


def _confidence(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return DEFAULT_CONFIDENCE
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return DEFAULT_CONFIDENCE
    return min(1.0, max(0.0, float(value)))


def parse_answer(text: str) -> tuple[DriftIntent, str, float] | None:
    """(intent, explanation, confidence) from the model's one JSON object; None when unusable."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    objects = _json_objects(text)
    if len(objects) != 1:
        return None
    data, start, end = objects[0]
    # The model must never hand over something to run: no extra keys, no commands anywhere.
    if set(data) - _ANSWER_KEYS:
        return None
    around = _FENCE.sub(" ", text[:start] + " " + text[end:])
    if _COMMAND_LIKE.search(_WHITESPACE.sub(" ", around)):
        return None
    raw_intent = data.get("intent")
    if not isinstance(raw_intent, str):
        return None
    name = re.sub(r"[\s-]+", "_", raw_intent.strip()).upper()
    if name not in DriftIntent.__members__:
        return None
    explanation = data.get("explanation")
    if not isinstance(explanation, str):
        return None
    explanation = _WHITESPACE.sub(" ", explanation).strip()
    if not explanation or _COMMAND_LIKE.search(explanation):
        return None
    if len(explanation) > MAX_EXPLANATION_CHARS:
        explanation = explanation[: MAX_EXPLANATION_CHARS - 1].rstrip() + "…"
    return DriftIntent[name], explanation, _confidence(data.get("confidence", DEFAULT_CONFIDENCE))


async def interpret(
    router: ChatRouter | None,
    resource: ResourceId,
    items: Sequence[DriftItem],
    live: Mapping[str, Any] | None,
) -> Interpretation:
    """One resource's interpretation: the local model's when usable, else the rules'."""
    if router is None:
        return heuristic(resource, items, live)
    managers = _resource_managers(items, live)
    result = await router.chat(
        Intent.INTERPRET_DRIFT,
        build_prompt(resource, items, managers),
        system=SYSTEM_PROMPT,
        task_type=TASK_TYPE,
    )
    answered = result.success and not result.rejected
    parsed = parse_answer(result.text) if answered else None
    fallback = heuristic(resource, items, live)
    if parsed is None:
        why = (
            "the local model's answer was not usable (not the JSON asked for, or it held commands)"
            if answered
            else "no local model answered"
        )
        return replace(fallback, explanation=f"{fallback.explanation} ({why}: read by rules.)")
    intent, explanation, confidence = parsed
    if fallback.intent is DriftIntent.SECURITY_RISK and intent is not DriftIntent.SECURITY_RISK:
        # A model must not talk a security-weakening change down to something harmless.
        note = f" (The local model read it as {intent.value}; a security risk is reported as such.)"
        return replace(fallback, explanation=fallback.explanation + note)
    return Interpretation(resource, intent, redact(explanation), confidence, "model", managers)


async def interpret_report(
    router: ChatRouter | None,
    items: Sequence[DriftItem],
    live_objects: Mapping[tuple[str, str, str, str], Mapping[str, Any] | None],
    *,
    max_model_calls: int = 20,
) -> list[Interpretation]:
    """One interpretation per drifted resource (ignored items left out), in a stable order; the
    model reads at most `max_model_calls` of them (a scan must not wait on it for hours), the
    rules the rest."""
    # Items are grouped by resource.key(), so apps/v1 and extensions/v1beta1 items meet.
    groups: dict[tuple[str, str, str, str], list[DriftItem]] = {}
    for item in items:
        if not item.ignored:
            groups.setdefault(item.resource.key(), []).append(item)
    # Namespace, kind, name, group: the order a human scans a report in, whatever came first.
    order = sorted(groups, key=lambda key: (key[2], key[1], key[3], key[0]))
    # One at a time: a local model serves one request at a time anyway. After a rejection
    # (no local model reachable) the rest are read by rules: one rejection notice per report,
    # not one per resource.
    latch = _RejectionLatch(router) if router is not None else None
    found = []
    for position, key in enumerate(order):
        usable = latch is not None and not latch.rejected and position < max_model_calls
        active = latch if usable else None
        found.append(
            await interpret(active, groups[key][0].resource, groups[key], live_objects.get(key))
        )
    return found


class _RejectionLatch:
    """A router that remembers whether a call was rejected."""

    def __init__(self, router: ChatRouter) -> None:
        self._router = router
        self.rejected = False

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
    ) -> ChatResult:
        """Ask the router; note a rejection."""
        result = await self._router.chat(intent, prompt, system=system, task_type=task_type)
        self.rejected = self.rejected or result.rejected
        return result

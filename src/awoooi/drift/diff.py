"""The diff engine: what Git sets is compared with live after normalization; what only live has
is drift when an imperative manager wrote it, when Git dropped it after applying it, or when it
weakens security — never merely because a server default or a controller filled it in.

One desired-driven walk per object. Paths are tuples of segments (a map key, a list index, or a
keyed list item such as (("name", "web"),)); they are formatted only for reported items.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from awoooi.drift.normalize import (
    QUANTITY_KEYS,
    QUANTITY_PARENTS,
    fold_string_data,
    is_server_default,
    scalars_equal,
)

KeySel = tuple[tuple[str, Any], ...]
Segment = str | int | KeySel
Path = tuple[Segment, ...]

_MISSING: Any = object()
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

DEFAULT_IMPERATIVE_MANAGERS = (
    "kubectl-edit",
    "kubectl-patch",
    "kubectl-set",
    "kubectl-scale",
    "kubectl-label",
    "kubectl-annotate",
    "kubectl-client-side-apply",
    "kubectl-replace",
    "kubectl-rollout",
    "kubectl",
    "dashboard",
    "kubernetes-dashboard",
    "headlamp",
    "k9s",
    "lens",
    "openlens",
    "rancher",
    "Mozilla",
)
# Managers that only ever change existing objects (never create them).
EDIT_ONLY_MANAGERS = frozenset(
    {
        "kubectl-edit",
        "kubectl-patch",
        "kubectl-set",
        "kubectl-scale",
        "kubectl-label",
        "kubectl-annotate",
        "kubectl-rollout",
    }
)
DEFAULT_GITOPS_MANAGERS = ("awoooi", "argocd-controller", "kustomize-controller", "helm-controller")

# Lists merged by a key, as the API server's strategic merge does: order does not matter.
_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "addresses": ("ip",),
    "notReadyAddresses": ("ip",),
    "conditions": ("type",),
    "webhooks": ("name",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
}
# Fields the key carries a default for (a port without protocol is TCP).
_KEY_DEFAULTS = {"protocol": "TCP"}


# Fields the API server copies from a sibling when Git leaves them out.
_DERIVED = {"serviceAccount": "serviceAccountName", "targetPort": "port"}


def item_key(field_name: str, item: Any) -> KeySel | None:
    """The merge key of a list item under `field_name`, or None when the list has no key."""
    if not isinstance(item, dict):
        return None
    if field_name == "ports":
        port_field = "containerPort" if "containerPort" in item else "port"
        if port_field not in item:
            return None
        fields: tuple[str, ...] = (port_field, "protocol")
    elif field_name == "volumeClaimTemplates":
        name = (item.get("metadata") or {}).get("name")
        return None if name is None else (("name", name),)
    else:
        found = _MERGE_KEYS.get(field_name)
        if found is None:
            return None
        fields = found
    values = []
    for name in fields:
        value = item.get(name, _KEY_DEFAULTS.get(name, _MISSING))
        if value is _MISSING:
            return None
        values.append((name, value))
    return tuple(sorted(values))


def format_path(path: Path) -> str:
    """`spec.template.spec.containers[name=web].image`; keys with dots are quoted."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif isinstance(segment, tuple):
            out += "[" + ",".join(f"{k}={v}" for k, v in segment) + "]"
        elif segment.replace("-", "").replace("_", "").isalnum():
            out += f".{segment}" if out else segment
        else:
            out += f'["{segment}"]'
    return out


@dataclass(frozen=True, slots=True)
class Difference:
    """One differing field: `modified` (both set), `removed` (Git sets it, live lacks it) or
    `added` (live has it, Git does not)."""

    path: Path
    change: str
    desired: Any
    live: Any
    reason: str = ""


# ---------------------------------------------------------------- managedFields as a trie


@dataclass
class FieldTrie:
    """Fields one group of managers owns (from managedFields), keyed by our path segments."""

    manager: str = ""
    children: dict[Segment, FieldTrie] = field(default_factory=dict)

    def add(self, fields: Mapping[str, Any], manager: str) -> None:
        """Merge a FieldsV1 document owned by `manager`."""
        for raw, sub in fields.items():
            segment = _fields_segment(raw)
            if segment is None:
                continue
            child = self.children.get(segment)
            if child is None:
                child = self.children[segment] = FieldTrie(manager)
            if isinstance(sub, dict):
                child.add(sub, manager)


def _fields_segment(raw: str) -> Segment | None:
    if raw.startswith("f:"):
        return raw[2:]
    if raw.startswith("k:"):
        try:
            decoded = json.loads(raw[2:])
        except ValueError:
            return None
        return tuple(sorted(decoded.items())) if isinstance(decoded, dict) else None
    if raw.startswith("i:"):
        try:
            return int(raw[2:])
        except ValueError:
            return None
    if raw.startswith("v:"):
        return (("v", raw[2:]),)  # a set item, by value; matched by its JSON text
    return None


def managed_trie(live: Mapping[str, Any], managers: Iterable[str]) -> FieldTrie | None:
    """The fields the named managers own in a live object, or None when they own nothing."""
    wanted = {name.lower() for name in managers}
    entries = (live.get("metadata") or {}).get("managedFields") or []
    trie: FieldTrie | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        manager = str(entry.get("manager") or "")
        if manager.lower() not in wanted or entry.get("subresource") == "status":
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, dict):
            trie = trie or FieldTrie()
            trie.add(fields, manager)
    return trie


def scale_owners(live: Mapping[str, Any]) -> list[str]:
    """Managers that wrote spec.replicas through the scale subresource (autoscalers)."""
    owners = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or entry.get("subresource") != "scale":
            continue
        spec = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:replicas" in spec:
            owners.append(str(entry.get("manager") or "?"))
    return owners


# ---------------------------------------------------------------- the walk


def _blank(value: Any) -> bool:
    """Absent-equivalent: null, "", [], {} or a map of such (resources: {limits: {}})."""
    if value is None or value == "" or value == [] or value == {}:
        return True
    if type(value) is dict:
        return all(_blank(item) for item in value.values())
    return False


class _Walk:
    """State for one object's walk: the output list and the optional tries."""

    __slots__ = ("out",)

    def __init__(self) -> None:
        self.out: list[Difference] = []

    def node(
        self,
        desired: Any,
        live: Any,
        path: Path,
        key: str,
        parent: str,
        imperative: FieldTrie | None,
        gitops: FieldTrie | None,
        applied: Any,
    ) -> None:
        kind = type(desired)
        if kind is dict:
            if type(live) is dict:
                self.mapping(desired, live, path, imperative, gitops, applied)
            elif not _blank(desired):
                self.out.append(
                    Difference(path, "modified" if live is not None else "removed", desired, live)
                )
        elif kind is list:
            if type(live) is list:
                self.sequence(desired, live, path, key, imperative, gitops, applied)
            elif not (_blank(desired) and _blank(live)):
                self.out.append(
                    Difference(path, "modified" if live is not None else "removed", desired, live)
                )
        elif not scalars_equal(
            desired, live, quantity=key in QUANTITY_KEYS or parent in QUANTITY_PARENTS
        ):
            self.out.append(Difference(path, "modified", desired, live, _edited(imperative)))

    def mapping(
        self,
        desired: dict[str, Any],
        live: dict[str, Any],
        path: Path,
        imperative: FieldTrie | None,
        gitops: FieldTrie | None,
        applied: Any,
    ) -> None:
        parent = path[-1] if path and isinstance(path[-1], str) else ""
        applied_map = applied if type(applied) is dict else None
        for key, value in desired.items():
            live_value = live.get(key, _MISSING)
            child = (*path, key)
            if live_value is _MISSING or live_value is None:
                if not _blank(value):
                    self.out.append(Difference(child, "removed", value, None))
                continue
            self.node(
                value,
                live_value,
                child,
                key,
                parent,
                imperative.children.get(key) if imperative else None,
                gitops.children.get(key) if gitops else None,
                applied_map.get(key, _MISSING) if applied_map is not None else _MISSING,
            )
        if imperative is None and gitops is None and applied_map is None:
            return  # the common case: nothing can make a live-only field drift here
        for key, live_value in live.items():
            if key in desired or _blank(live_value):
                continue
            source = _DERIVED.get(key)
            if source is not None and live.get(source) == live_value:
                continue  # filled in by the server from its sibling (serviceAccount, targetPort)
            self.live_only(key, live_value, (*path, key), imperative, gitops, applied_map)

    def live_only(
        self,
        key: Segment,
        live_value: Any,
        path: Path,
        imperative: FieldTrie | None,
        gitops: FieldTrie | None,
        applied: Mapping[Any, Any] | None,
    ) -> None:
        """A field only live has: drift when a manager or the last apply accounts for it,
        reported at the deepest level they own (not the whole map above it)."""
        sub_imperative = imperative.children.get(key) if imperative else None
        sub_gitops = gitops.children.get(key) if gitops else None
        sub_applied = applied.get(key, _MISSING) if applied is not None else _MISSING
        if sub_imperative is None and sub_gitops is None and sub_applied is _MISSING:
            return
        # A whole list item Git dropped is one finding; inside a map, the owned leaves are.
        if (
            isinstance(key, str)
            and type(live_value) is dict
            and (
                (sub_imperative is not None and sub_imperative.children)
                or (sub_gitops is not None and sub_gitops.children)
                or type(sub_applied) is dict
            )
        ):
            deeper = _Walk()
            deeper.mapping(
                {},
                live_value,
                path,
                sub_imperative,
                sub_gitops,
                sub_applied if type(sub_applied) is dict else {},
            )
            self.out.extend(deeper.out)
            return
        editor = sub_imperative is not None and sub_imperative.manager.lower() in EDIT_ONLY_MANAGERS
        if not editor and is_server_default(key, live_value):
            # What the server fills in when Git leaves it unset. A manager that created the
            # object is recorded as owning its defaults; an editor (kubectl edit/patch/set ...)
            # only owns what it changed, so its values are reported even when they look default.
            return
        reason = _live_only_reason(key, imperative, gitops, applied)
        if reason:
            self.out.append(Difference(path, "added", None, live_value, reason))

    def sequence(
        self,
        desired: list[Any],
        live: list[Any],
        path: Path,
        key: str,
        imperative: FieldTrie | None,
        gitops: FieldTrie | None,
        applied: Any,
    ) -> None:
        keys = [item_key(key, item) for item in desired]
        if desired and all(k is not None for k in keys):
            self.keyed(desired, live, path, key, keys, imperative, gitops, applied)
        elif desired and all(type(item) is dict for item in desired):
            self.unordered(desired, live, path)
        elif (
            len(desired) != len(live)
            or not all(
                scalars_equal(d, lv) if type(d) not in (dict, list) else d == lv
                for d, lv in zip(desired, live, strict=False)
            )
        ) and not (_blank(desired) and _blank(live)):
            self.out.append(Difference(path, "modified", desired, live, _edited(imperative)))

    def keyed(
        self,
        desired: list[Any],
        live: list[Any],
        path: Path,
        key: str,
        keys: Sequence[KeySel | None],
        imperative: FieldTrie | None,
        gitops: FieldTrie | None,
        applied: Any,
    ) -> None:
        live_by_key: dict[KeySel, Any] = {}
        for item in live:
            found = item_key(key, item)
            if found is not None:
                live_by_key.setdefault(found, item)
        applied_by_key: dict[KeySel, Any] = {}
        if type(applied) is list:
            for item in applied:
                found = item_key(key, item)
                if found is not None:
                    applied_by_key[found] = item
        for item, item_sel in zip(desired, keys, strict=True):
            assert item_sel is not None
            child = (*path, item_sel)
            match = live_by_key.get(item_sel)
            if match is None:
                self.out.append(Difference(child, "removed", item, None))
                continue
            self.mapping(
                item,
                match,
                child,
                imperative.children.get(item_sel) if imperative else None,
                gitops.children.get(item_sel) if gitops else None,
                applied_by_key.get(item_sel, _MISSING) if applied_by_key else _MISSING,
            )
        if imperative is None and gitops is None and not applied_by_key:
            return
        wanted = set(keys)
        for item_sel, item in live_by_key.items():
            if item_sel in wanted:
                continue
            self.live_only(item_sel, item, (*path, item_sel), imperative, gitops, applied_by_key)

    def unordered(self, desired: list[Any], live: list[Any], path: Path) -> None:
        """A list of maps with no merge key is atomic, but its order is not meaningful
        (Endpoints subsets, RBAC rules): each desired item must match a distinct live one."""
        unmatched = list(range(len(live)))
        for item in desired:
            for position in unmatched:
                probe = _Walk()
                probe.node(item, live[position], (), "", "", None, None, _MISSING)
                if not probe.out:
                    unmatched.remove(position)
                    break
            else:
                self.out.append(Difference(path, "modified", desired, live))
                return
        if unmatched and not all(_blank(live[position]) for position in unmatched):
            self.out.append(Difference(path, "modified", desired, live))


def _edited(imperative: FieldTrie | None) -> str:
    """Why a field Git sets differs live: an imperative manager (a hotfix by `kubectl edit`,
    `kubectl set image` ...) owns it; else the difference speaks for itself."""
    if imperative is None:
        return ""
    return f"set by {imperative.manager}, differs from Git"


def _live_only_reason(
    key: Segment,
    imperative: FieldTrie | None,
    gitops: FieldTrie | None,
    applied: Mapping[Any, Any] | None,
) -> str:
    if imperative is not None and key in imperative.children:
        return f"set by {imperative.children[key].manager}, not in Git"
    if applied is not None and key in applied:
        return "removed from Git, still live (the last applied configuration had it)"
    if gitops is not None and key in gitops.children:
        return f"removed from Git, still live ({gitops.children[key].manager} applied it)"
    return ""


# ---------------------------------------------------------------- security-sensitive live-only


def _pod_specs(obj: Mapping[str, Any]) -> list[tuple[Path, Mapping[str, Any]]]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    kind = obj.get("kind")
    if kind == "Pod":
        return [(("spec",), spec)]
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        pod = (job.get("template") or {}).get("spec")
        path: Path = ("spec", "jobTemplate", "spec", "template", "spec")
        return [(path, pod)] if isinstance(pod, dict) else []
    pod = (spec.get("template") or {}).get("spec")
    return [(("spec", "template", "spec"), pod)] if isinstance(pod, dict) else []


def _get(obj: Any, path: Path) -> Any:
    for segment in path:
        if isinstance(segment, tuple):
            if not isinstance(obj, list):
                return _MISSING
            name = dict(segment).get("name")
            obj = next((i for i in obj if isinstance(i, dict) and i.get("name") == name), _MISSING)
        elif isinstance(obj, dict):
            obj = obj.get(segment, _MISSING)
        else:
            return _MISSING
        if obj is _MISSING:
            return _MISSING
    return obj


def _sensitive(path: Path, value: Any) -> bool:
    last = path[-1]
    if last in {"hostNetwork", "hostPID", "hostIPC", "privileged", "allowPrivilegeEscalation"}:
        return value is True
    if last == "runAsUser":
        return bool(value == 0)
    if last == "runAsNonRoot":
        return value is False
    if last == "add":  # capabilities.add
        return bool(value)
    if last == "hostPath":
        return bool(value)
    return False


def security_live_only(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[Difference]:
    """Security-weakening fields only live has (privileged, host namespaces, root, hostPath,
    added capabilities): reported whoever set them."""
    found: list[Difference] = []
    for base, pod in _pod_specs(live):
        candidates: list[tuple[Path, Any]] = []
        for name in ("hostNetwork", "hostPID", "hostIPC"):
            if name in pod:
                candidates.append(((*base, name), pod[name]))
        pod_context = pod.get("securityContext")
        if isinstance(pod_context, dict):
            for name in ("runAsUser", "runAsNonRoot"):
                if name in pod_context:
                    candidates.append(((*base, "securityContext", name), pod_context[name]))
        for field_name in ("containers", "initContainers", "ephemeralContainers"):
            for container in pod.get(field_name) or []:
                if not isinstance(container, dict) or "name" not in container:
                    continue
                context = container.get("securityContext")
                if not isinstance(context, dict):
                    continue
                prefix: Path = (
                    *base,
                    field_name,
                    (("name", container["name"]),),
                    "securityContext",
                )
                for name in ("privileged", "allowPrivilegeEscalation", "runAsUser", "runAsNonRoot"):
                    if name in context:
                        candidates.append(((*prefix, name), context[name]))
                capabilities = context.get("capabilities")
                if isinstance(capabilities, dict) and capabilities.get("add"):
                    candidates.append(((*prefix, "capabilities", "add"), capabilities["add"]))
        for volume in pod.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("hostPath") and "name" in volume:
                path: Path = (*base, "volumes", (("name", volume["name"]),), "hostPath")
                candidates.append((path, volume["hostPath"]))
        for path, value in candidates:
            if not _sensitive(path, value):
                continue
            wanted = _get(desired, path)
            if wanted is _MISSING:
                found.append(
                    Difference(path, "added", None, value, "security-sensitive, not in Git")
                )
    return found


# ---------------------------------------------------------------- one object


@dataclass(frozen=True)
class DiffOptions:
    """Which managers count as imperative (their live-only fields are drift) and which are
    the GitOps appliers (fields they own that Git dropped are drift)."""

    imperative_managers: tuple[str, ...] = DEFAULT_IMPERATIVE_MANAGERS
    gitops_managers: tuple[str, ...] = DEFAULT_GITOPS_MANAGERS


_SERVER_METADATA = (
    "creationTimestamp",
    "resourceVersion",
    "uid",
    "generation",
    "selfLink",
    "managedFields",
)


def _prepared(desired: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """The desired object as the API server would store it (folding, cluster scope)."""
    prepared = dict(desired)
    if prepared.get("kind") == "Secret":
        prepared = fold_string_data(prepared)
    metadata = prepared.get("metadata")
    if isinstance(metadata, dict):
        live_metadata = live.get("metadata") or {}
        drop = [key for key in _SERVER_METADATA if metadata.get(key) is None and key in metadata]
        if "namespace" in metadata and not live_metadata.get("namespace"):
            drop.append("namespace")  # a cluster-scoped object: the namespace is ignored
        if drop:
            prepared["metadata"] = {k: v for k, v in metadata.items() if k not in drop}
    return prepared


def _last_applied(live: Mapping[str, Any]) -> Any:
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED)
    if not isinstance(text, str) or not text:
        return _MISSING
    try:
        decoded = json.loads(text)
    except ValueError:
        return _MISSING
    if not isinstance(decoded, dict):
        return _MISSING
    # Only what it says about the object's content; server metadata is not an applied intent.
    metadata = decoded.get("metadata")
    if isinstance(metadata, dict):
        decoded["metadata"] = {
            k: v for k, v in metadata.items() if k not in {"namespace", "creationTimestamp"}
        }
    return decoded


def diff_object(
    desired: Mapping[str, Any], live: Mapping[str, Any], options: DiffOptions | None = None
) -> list[Difference]:
    """Every difference between a desired object and its live counterpart."""
    opts = options or DiffOptions()
    prepared = _prepared(desired, live)
    live_object = fold_string_data(dict(live)) if live.get("kind") == "Secret" else dict(live)
    walk = _Walk()
    walk.mapping(
        prepared,
        live_object,
        (),
        managed_trie(live, opts.imperative_managers),
        managed_trie(live, opts.gitops_managers),
        _last_applied(live),
    )
    # A security field an imperative manager set is already reported (naming it): once is enough.
    reported = {difference.path for difference in walk.out}
    walk.out.extend(
        found for found in security_live_only(prepared, live_object) if found.path not in reported
    )
    return walk.out

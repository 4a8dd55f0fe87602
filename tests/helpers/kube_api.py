"""A small in-process fake of the Kubernetes API server, for testing the lightkube adapter.

`FakeKubeAPI` runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (port 0, no races) in a daemon
thread and answers the REST calls awoooi makes the way a real API server does, wire format
included: JSON objects and lists, `Status` errors, the `scale` subresource, four PATCH content
types, `resourceVersion`/`generation` bookkeeping. Objects live in `objects`, keyed by
`(apiVersion, namespace, plural, name)` ("apps/v1", "prod", "deployments", "web").

    with FakeKubeAPI() as api:
        dep = api.add(make_deployment("web", "prod", replicas=3))
        ...                                   # point a client at api.url
        api.requests[-1].body                 # every request is recorded, parsed
        api.get("Deployment", "prod", "web")  # the stored object (a copy)
        api.fail_next(500)                    # the next request answers a 500 Status
        api.hang_next(5.0)                    # the next request answers after 5 s (or stop())
        api.register_kind("stable.example.com/v1", "CronTab", "crontabs")  # a CRD's kind
        api.default_field_manager = "kubectl-edit"  # who owns what a plain PATCH/PUT changes

API discovery (`/api`, `/api/v1`, `/apis`, `/apis/<group>`, `/apis/<group>/<version>`) lists the
kinds the server knows: the built-in ones below, any registered, any of an added object.

Container logs (`GET .../pods/<pod>/log?container=&previous=&tailLines=&limitBytes=`, text/plain)
come from `set_log`; the errors are the real server's: 404 for a missing pod, 400 for a missing
container, a previous run that never happened (`previous terminated container "c" in pod "p" not
found`) or a container still waiting to start. tailLines picks the last lines first, then
limitBytes cuts the end of that, as the kubelet does.

    api.set_log("prod", "web-abc12", "web", "started\npanic: boom\n")
    api.set_log("prod", "web-abc12", "web", "the run before\n", previous=True)

ControllerRevisions (the StatefulSet and DaemonSet history) are objects like any other:
`make_controller_revision` builds one as the controllers record it, and `record_revision` does
what those controllers do after a template change (a new highest revision, or the equal one
renumbered to the top).

Server-side apply (PATCH `application/apply-patch+yaml`) needs `fieldManager`, merges the applied
fields into the live object (creating it when missing) and keeps field ownership in each object's
`metadata.managedFields`: changing a field another manager owns answers 409 with the real
server's message (`Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1:
.spec.replicas`) unless `force=true`, which moves the field to the applier. Other writes give the
fields they change to their manager (`fieldManager`, else `default_field_manager`, else the
User-Agent's product), as Update. `dryRun=All` on POST, PUT, PATCH and DELETE answers exactly as
the real call would and stores nothing (no resourceVersion is used up); see "field ownership"
below for what ownership simplifies.

Simplifications, on purpose: strategic merge knows no schema (lists of objects with a `name`
are merged by name, other lists replaced); no admission, defaulting, controllers or watches;
a selector may use `=`, `==`, `!=`, `in`, `notin`, `key` and `!key`. Writes to the main
resource leave `status` alone, as on the real server; use `set_status` (or `/status`) instead.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]
Key = tuple[str, str, str, str]  # (apiVersion, namespace, plural, name)

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "ControllerRevision": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "Pod": "v1",
    "Event": "v1",
    "PersistentVolumeClaim": "v1",
    "ResourceQuota": "v1",
    "ReplicationController": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Namespace": "v1",
    "Node": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
}
PLURALS = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets",
    "ControllerRevision": "controllerrevisions",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Pod": "pods",
    "Event": "events",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "ResourceQuota": "resourcequotas",
    "ReplicationController": "replicationcontrollers",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "Namespace": "namespaces",
    "Node": "nodes",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "CustomResourceDefinition": "customresourcedefinitions",
}
KINDS = {plural: kind for kind, plural in PLURALS.items()}
CLUSTER_SCOPED = frozenset(
    {"namespaces", "nodes", "clusterroles", "clusterrolebindings", "customresourcedefinitions"}
)
# What discovery says a resource allows (every resource here answers all of them).
VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SCALABLE = frozenset({"deployments", "statefulsets", "replicasets", "replicationcontrollers"})
# Resources whose status is a subresource: writes to the object itself never change it.
WITH_STATUS = frozenset(
    {
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "pods",
        "jobs",
        "cronjobs",
        "horizontalpodautoscalers",
        "persistentvolumeclaims",
        "resourcequotas",
        "replicationcontrollers",
    }
)
WITH_SELECTOR = frozenset({"deployments", "statefulsets", "daemonsets", "replicasets"})

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?"
    r"/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)
_DISCOVERY_PATH = re.compile(
    r"^/(?:api(?:/(?P<core>[^/]+))?|apis(?:/(?P<group>[^/]+)(?:/(?P<version>[^/]+))?)?)/?$"
)
_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
# Field selectors the real server supports beyond metadata.name and metadata.namespace
# (k8s.io/kubernetes pkg/registry/core/{event,pod}/strategy.go); "source" is source.component.
FIELD_LABELS = {
    "events": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "pods": {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
}


def now_rfc3339() -> str:
    """The current time as the API server writes timestamps (UTC, seconds, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, message: str, *, reason: str | None = None, **details: Any) -> JSON:
    """A `Status` object as the API server sends with every error."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiFailure(Exception):
    """Raised inside the fake to answer with a Status (code, message, reason)."""

    def __init__(self, code: int, message: str, *, reason: str | None = None, **details: Any):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, reason=reason, **details)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived: the query keeps the last value of each parameter."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any  # parsed JSON (dict or list), None without a body, the text if not JSON
    raw: bytes
    headers: dict[str, str]


@dataclass
class Fault:
    """What the next matching request gets instead of its answer."""

    status: int | None = None  # None: answer normally (after `hang`)
    message: str | None = None
    reason: str | None = None
    content_type: str = "application/json"
    body: bytes | None = None
    hang: float = 0.0
    method: str | None = None
    times: int = 1


@dataclass(frozen=True)
class KindDef:
    """A kind the server serves: its resource name (plural) and scope."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True


# -- object builders ---------------------------------------------------------------------------


def make_deployment(
    name: str,
    namespace: str = "default",
    *,
    replicas: int = 1,
    image: str = "nginx:1.25",
    labels: dict[str, str] | None = None,
    revision: int | None = None,
    annotations: dict[str, str] | None = None,
    status: JSON | None = None,
) -> JSON:
    """An apps/v1 Deployment selecting `labels` (default app=<name>) with one container."""
    labels = labels or {"app": name}
    meta_annotations = dict(annotations or {})
    if revision is not None:
        meta_annotations["deployment.kubernetes.io/revision"] = str(revision)
    obj: JSON = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {"name": name, "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
            "strategy": {"type": "RollingUpdate"},
        },
    }
    if meta_annotations:
        obj["metadata"]["annotations"] = meta_annotations
    if status is not None:
        obj["status"] = status
    return obj


def make_workload(kind: str, name: str, namespace: str = "default", **kwargs: Any) -> JSON:
    """A StatefulSet, DaemonSet or ReplicaSet shaped like `make_deployment`'s Deployment."""
    obj = make_deployment(name, namespace, **kwargs)
    obj["kind"] = kind
    if kind == "DaemonSet":
        del obj["spec"]["replicas"]
    if kind != "Deployment":
        del obj["spec"]["strategy"]
    return obj


def make_replicaset(
    deployment: JSON,
    *,
    revision: int,
    image: str,
    pod_template_hash: str,
    replicas: int = 0,
    owner_uid: str | None = None,
    annotations: dict[str, str] | None = None,
) -> JSON:
    """A ReplicaSet of a stored Deployment (controller reference by uid) at one revision."""
    meta = deployment["metadata"]
    template = copy.deepcopy(deployment["spec"]["template"])
    template["metadata"].setdefault("labels", {})["pod-template-hash"] = pod_template_hash
    for container in template["spec"]["containers"]:
        container["image"] = image
    selector = copy.deepcopy(deployment["spec"]["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_template_hash
    labels = dict(template["metadata"]["labels"])
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_template_hash}",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {
                **(annotations or {}),
                "deployment.kubernetes.io/revision": str(revision),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": owner_uid or meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    }


def make_pod(
    name: str, namespace: str = "default", *, labels: dict[str, str] | None = None
) -> JSON:
    """A v1 Pod with one container."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
    }


# The alphabet of generated names and hashes (k8s.io/apimachinery rand.SafeEncodeString).
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def make_controller_revision(
    workload: JSON,
    *,
    revision: int,
    image: str | None = None,
    owner_uid: str | None = None,
) -> JSON:
    """A ControllerRevision of a stored StatefulSet or DaemonSet (its template, `image` set on
    every container when given), as the controller records it: `data` is the strategic merge
    patch that puts the template back, named `<workload>-<hash>` with that hash as its
    `controller-revision-hash` label, the template's labels and a controller reference."""
    meta = workload["metadata"]
    template = copy.deepcopy(workload["spec"]["template"])
    if image is not None:
        for container in template["spec"]["containers"]:
            container["image"] = image
    data = {"spec": {"template": {**template, "$patch": "replace"}}}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    revision_hash = "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])
    labels = {
        **(template.get("metadata") or {}).get("labels", {}),
        "controller-revision-hash": revision_hash,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{meta['name']}-{revision_hash}",
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": workload["kind"],
                    "name": meta["name"],
                    "uid": owner_uid or meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": data,
        "revision": revision,
    }


# -- patch semantics ---------------------------------------------------------------------------


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and "name" in item for item in value
    )


def strategic_merge(target: Any, patch: Any) -> Any:
    """Simplified strategic merge: maps merge recursively, null deletes, lists of objects with
    a `name` merge by name (`$patch: delete` removes one), other lists are replaced."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):  # $setElementOrder/..., $retainKeys: ordering/pruning hints
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = strategic_merge(result.get(key), value)
        elif value and _named_list(value) and _named_list(result.get(key)):
            result[key] = _merge_by_name(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_by_name(current: list[JSON], patch: list[JSON]) -> list[JSON]:
    merged = copy.deepcopy(current)
    for item in patch:
        index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[index] = strategic_merge(merged[index], item)
    return merged


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise ApiFailure(422, f"invalid JSON pointer {path!r}")
    if not path:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], part: str, *, allow_end: bool) -> int:
    if allow_end and part == "-":
        return len(container)
    if not part.isdigit() or int(part) > len(container) - (0 if allow_end else 1):
        raise ApiFailure(422, f"array index {part!r} out of range")
    return int(part)


def json_patch(document: Any, operations: Any) -> Any:
    """JSON patch (RFC 6902): add, remove, replace and test."""
    if not isinstance(operations, list):
        raise ApiFailure(400, "json patch must be a list of operations")
    doc = copy.deepcopy(document)
    for op in operations:
        kind = op.get("op") if isinstance(op, dict) else None
        if kind not in ("add", "remove", "replace", "test"):
            raise ApiFailure(422, f"unsupported json patch operation {kind!r}")
        parts = _pointer(op.get("path"))
        value = copy.deepcopy(op.get("value"))
        if not parts:
            if kind in ("add", "replace"):
                doc = value
                continue
            raise ApiFailure(422, f"cannot {kind} the whole document")
        parent = doc
        for part in parts[:-1]:
            if isinstance(parent, dict) and part in parent:
                parent = parent[part]
            elif isinstance(parent, list):
                parent = parent[_index(parent, part, allow_end=False)]
            else:
                raise ApiFailure(
                    422, f"{kind} operation does not apply: doc is missing path: {op.get('path')}"
                )
        last = parts[-1]
        if isinstance(parent, dict):
            if kind != "add" and last not in parent:
                raise ApiFailure(
                    422, f"{kind} operation does not apply: doc is missing key: {op.get('path')}"
                )
            if kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent[last] != value:
                    raise ApiFailure(422, f"testing value {op.get('path')} failed")
            else:
                parent[last] = value
        elif isinstance(parent, list):
            i = _index(parent, last, allow_end=kind == "add")
            if kind == "add":
                parent.insert(i, value)
            elif kind == "remove":
                del parent[i]
            elif kind == "replace":
                parent[i] = value
            elif parent[i] != value:
                raise ApiFailure(422, f"testing value {op.get('path')} failed")
        else:
            raise ApiFailure(422, f"{kind} operation does not apply: {op.get('path')}")
    return doc


# -- field ownership (server-side apply) -------------------------------------------------------
#
# Ownership lives where the real server keeps it, in each stored object's metadata.managedFields,
# and is read back from there on every write (so objects a test seeds with managedFields are
# owned as written). Simplified on purpose:
# - a field is a leaf: a scalar, an empty map, or a whole list, except a list whose items all
#   have a `name`, whose items are keyed `k:{"name":...}` (plus "." for the item itself);
#   no schema, so `ports` keyed by containerPort or set-lists are atomic;
# - a manager owns a leaf exactly (owning `f:spec.f:template` says nothing about its children);
# - an apply conflicts when it changes a leaf another manager (by name) owns; equal values are
#   shared; force moves the leaf to the applier;
# - an apply only adds and changes: fields dropped from a manager's configuration lose their
#   owner but stay in the object (the real server would remove those nobody else owns);
# - any other write (PATCH, PUT, a subresource) gives the leaves it changed to its manager
#   (operation Update), never conflicts, and frees the leaves it removed;
# - `status` and server-set metadata (name, uid, resourceVersion...) are nobody's.

FieldPath = tuple[str, ...]  # managedFields keys from the root: ("f:spec", "f:replicas")
_MISSING = object()
_UNOWNED_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)


def _item_key(item: JSON) -> str:
    return "k:" + json.dumps({"name": item["name"]}, separators=(",", ":"))


def field_leaves(obj: JSON) -> dict[FieldPath, Any]:
    """Every ownable leaf of an object (or apply configuration), with its value."""
    leaves: dict[FieldPath, Any] = {}

    def walk(value: Any, path: FieldPath) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, (*path, f"f:{key}"))
        elif value and _named_list(value):
            for item in value:
                item_path = (*path, _item_key(item))
                leaves[(*item_path, ".")] = True
                walk(item, item_path)
        else:
            leaves[path] = copy.deepcopy(value)

    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in _UNOWNED_METADATA:
                    walk(meta_value, ("f:metadata", f"f:{meta_key}"))
        else:
            walk(value, (f"f:{key}",))
    return leaves


def _value_at(obj: Any, path: FieldPath) -> Any:
    """The value at a managedFields path in an object, or _MISSING."""
    node = obj
    for part in path:
        if part == ".":
            return True  # the list item itself: it exists, we got here
        if part.startswith("f:") and isinstance(node, dict) and part[2:] in node:
            node = node[part[2:]]
        elif part.startswith("k:") and isinstance(node, list):
            name = json.loads(part[2:]).get("name")
            node = next(
                (i for i in node if isinstance(i, dict) and i.get("name") == name), _MISSING
            )
            if node is _MISSING:
                return _MISSING
        else:
            return _MISSING
    return node


def field_path_text(path: FieldPath) -> str:
    """A path as the API server prints it in a conflict: .spec.containers[name="web"].image."""
    text = ""
    for part in path:
        if part.startswith("f:"):
            text += "." + part[2:]
        elif part.startswith("k:"):
            key = json.loads(part[2:])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]"
    return text


def fields_v1(paths: set[FieldPath]) -> JSON:
    """The fieldsV1 tree of a set of paths (a leaf is an empty map)."""
    tree: JSON = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    return tree


def _paths_of(tree: Any, prefix: FieldPath = ()) -> set[FieldPath]:
    """The leaf paths of a fieldsV1 tree."""
    if not isinstance(tree, dict) or not tree:
        return {prefix} if prefix else set()
    paths: set[FieldPath] = set()
    for key, child in tree.items():
        paths |= {(*prefix, ".")} if key == "." else _paths_of(child, (*prefix, key))
    return paths


@dataclass
class _Owner:
    """One managedFields entry: who, how, and the leaves it owns."""

    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    subresource: str | None
    fields: set[FieldPath]
    entry: JSON | None = None  # the stored entry, kept verbatim while `fields` is unchanged

    def describe(self) -> str:
        """The manager as a conflict message names it (k8s fieldmanager's printManager)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        return text + (f" using {self.api_version}" if self.operation == "Update" else "")


def _owners(obj: JSON) -> list[_Owner]:
    owners = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if isinstance(entry, dict) and isinstance(entry.get("manager"), str):
            owners.append(
                _Owner(
                    entry["manager"],
                    str(entry.get("operation") or "Update"),
                    str(entry.get("apiVersion") or ""),
                    entry.get("subresource"),
                    _paths_of(entry.get("fieldsV1")),
                    entry,
                )
            )
    return owners


def _owner(
    owners: list[_Owner], manager: str, operation: str, api_version: str, subresource: str | None
) -> _Owner:
    """The entry of one manager and operation, appended when new."""
    for owner in owners:
        if (owner.manager, owner.operation, owner.subresource) == (manager, operation, subresource):
            return owner
    owners.append(_Owner(manager, operation, api_version, subresource, set()))
    return owners[-1]


def _managed_fields(owners: list[_Owner]) -> list[JSON]:
    entries = []
    for owner in owners:
        if not owner.fields:
            continue  # the real server drops an entry that owns nothing
        if owner.entry is not None and _paths_of(owner.entry.get("fieldsV1")) == owner.fields:
            entries.append(owner.entry)
            continue
        entry: JSON = {
            "manager": owner.manager,
            "operation": owner.operation,
            "apiVersion": owner.api_version,
            "time": now_rfc3339(),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(owner.fields),
        }
        if owner.subresource:
            entry["subresource"] = owner.subresource
        entries.append(entry)
    return entries


def _apply_conflict(conflicts: list[tuple[_Owner, FieldPath]]) -> ApiFailure:
    """The 409 the real server answers, message and causes alike."""
    by_manager: dict[str, list[str]] = {}
    causes = []
    for owner, path in conflicts:
        who, field_text = owner.describe(), field_path_text(path)
        by_manager.setdefault(who, []).append(field_text)
        causes.append(
            {"type": "FieldManagerConflict", "message": f"conflict with {who}", "field": field_text}
        )
    if len(conflicts) == 1:
        detail = f"conflict with {conflicts[0][0].describe()}: {field_path_text(conflicts[0][1])}"
    else:
        lines = []
        for who in sorted(by_manager):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {field_text}" for field_text in by_manager[who])
        detail = "\n".join(lines)
    count = len(conflicts)
    return ApiFailure(
        409,
        f"Apply failed with {count} conflict{'s' if count != 1 else ''}: {detail}",
        reason="Conflict",
        causes=causes,
    )


@dataclass(frozen=True)
class _Writer:
    """Who writes, and for an apply what it applies and whether it forces."""

    manager: str
    apply: JSON | None = None
    force: bool = False


def _take_ownership(
    api_version: str, sub: str | None, current: JSON | None, new: JSON, writer: _Writer
) -> None:
    """Set new's managedFields for this write; ApiFailure(409) on an apply conflict."""
    owners = _owners(current) if current is not None else []
    if writer.apply is not None and sub is None:
        config = field_leaves(writer.apply)
        conflicts = [
            (owner, path)
            for path, value in config.items()
            if current is not None and _value_at(current, path) != value
            for owner in owners
            if owner.manager != writer.manager and path in owner.fields
        ]
        if conflicts and not writer.force:
            raise _apply_conflict(conflicts)
        for owner, path in conflicts:
            owner.fields.discard(path)
        _owner(owners, writer.manager, "Apply", api_version, None).fields = set(config)
    else:
        before = field_leaves(current) if current is not None else {}
        after = field_leaves(new)
        changed = {path for path, value in after.items() if before.get(path, _MISSING) != value}
        freed = changed | (set(before) - set(after))
        for owner in owners:
            owner.fields -= freed
        if changed:
            _owner(owners, writer.manager, "Update", api_version, sub).fields |= changed
    managed = _managed_fields(owners)
    if managed:
        new["metadata"]["managedFields"] = managed
    else:
        new["metadata"].pop("managedFields", None)


# -- selectors ---------------------------------------------------------------------------------


def _split_terms(text: str) -> list[str]:
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [term.strip() for term in terms if term.strip()]


def label_matcher(selector: str) -> Callable[[dict[str, str]], bool]:
    """A predicate over labels for a label selector string; ApiFailure(400) if malformed."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    for term in _split_terms(selector):
        if m := _SET_TERM.match(term):
            key, op = m.group(1), m.group(2)
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in term:
            key, value = (part.strip() for part in re.split("==?", term, maxsplit=1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif term.startswith("!"):
            absent = term[1:].strip()
            checks.append(lambda labels, k=absent: k not in labels)
        elif re.fullmatch(r"[A-Za-z0-9._/-]+", term):
            checks.append(lambda labels, k=term: k in labels)
        else:
            raise ApiFailure(400, f"unable to parse requirement: {term!r}")
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", re.split(r"[\s!=]", term.lstrip("!"))[0]):
            raise ApiFailure(400, f"unable to parse requirement: invalid label key in {term!r}")
    return lambda labels: all(check(labels) for check in checks)


def selector_string(selector: JSON | None) -> str:
    """A LabelSelector object as the string form the Scale status carries."""
    selector = selector or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for req in selector.get("matchExpressions") or []:
        op, key, values = req["operator"], req["key"], ",".join(sorted(req.get("values") or []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[op]
        )
    return ",".join(terms)


# -- the server --------------------------------------------------------------------------------


@dataclass
class _Answer:
    code: int
    body: bytes
    content_type: str = "application/json"
    hang: float = 0.0
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Text:
    """A text/plain answer (pod logs) instead of a JSON document."""

    body: bytes


class FakeKubeAPI:
    """The fake API server: state, request log, faults, and the HTTP front end."""

    def __init__(self) -> None:
        self.objects: dict[Key, JSON] = {}
        self.kinds: dict[tuple[str, str], KindDef] = {
            (API_VERSIONS[kind], kind): KindDef(
                API_VERSIONS[kind], kind, plural, namespaced=plural not in CLUSTER_SCOPED
            )
            for kind, plural in PLURALS.items()
        }
        self.requests: list[RecordedRequest] = []
        self.field_managers: dict[Key, list[str]] = {}
        # The manager of a non-apply write without fieldManager (None: the User-Agent's).
        self.default_field_manager: str | None = None
        self._faults: list[Fault] = []
        # Container logs: (namespace, pod, container, previous) -> text.
        self.logs: dict[tuple[str, str, str, bool], str] = {}
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._resource_version = 1000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Bind 127.0.0.1:0 and serve in a daemon thread."""
        api = self

        class Handler(_Handler):
            fake = api

        server = ThreadingHTTPServer((HOST, 0), Handler)
        server.daemon_threads = True
        self._server = server
        # A short poll keeps shutdown() (which waits for the next poll) from costing 0.5 s.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-kube-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the socket."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        assert self._server is not None, "the fake API server is not running"
        return f"http://{HOST}:{self._server.server_address[1]}"

    # state for tests

    def register_kind(
        self, api_version: str, kind: str, plural: str | None = None, *, namespaced: bool = True
    ) -> KindDef:
        """Serve a kind (a CRD's, say): discovery lists it and its objects can be stored."""
        definition = KindDef(api_version, kind, plural or kind.lower() + "s", namespaced)
        with self._lock:
            self.kinds[(api_version, kind)] = definition
        return definition

    def add(self, obj: JSON) -> JSON:
        """Store an object as if created (uid, generation 1, resourceVersion); returns a copy.

        Unlike a POST, `status` is kept, so a test can seed it. An object of a kind the server
        does not know registers it (namespaced; `register_kind` first for anything else).
        """
        obj = copy.deepcopy(obj)
        kind = obj["kind"]
        obj.setdefault("apiVersion", API_VERSIONS.get(kind, "v1"))
        definition = self.kinds.get((obj["apiVersion"], kind))
        if definition is None:
            definition = self.register_kind(obj["apiVersion"], kind)
        plural = definition.plural
        meta = obj.setdefault("metadata", {})
        if definition.namespaced:
            namespace = meta.setdefault("namespace", "default")
        else:
            namespace = ""
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", now_rfc3339())
        with self._lock:
            meta["resourceVersion"] = self._next_version()
            self.objects[(obj["apiVersion"], namespace, plural, meta["name"])] = obj
        return copy.deepcopy(obj)

    def get(self, kind: str, namespace: str, name: str) -> JSON | None:
        """A copy of the stored object, or None."""
        key = self._key_for(kind, namespace, name)
        with self._lock:
            obj = self.objects.get(key)
            return copy.deepcopy(obj) if obj is not None else None

    def set_status(self, kind: str, namespace: str, name: str, status: JSON | None) -> JSON:
        """Replace an object's status, as its controller would; returns the stored copy."""
        key = self._key_for(kind, namespace, name)
        with self._lock:
            obj = self.objects[key]
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = copy.deepcopy(status)
            obj["metadata"]["resourceVersion"] = self._next_version()
            return copy.deepcopy(obj)

    def set_log(
        self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False
    ) -> None:
        """The log the kubelet holds for a container: its current run, or the one before."""
        with self._lock:
            self.logs[(namespace, pod, container, previous)] = text

    def record_revision(self, kind: str, namespace: str, name: str) -> JSON:
        """What the StatefulSet and DaemonSet controllers do after a template change: the
        running template becomes the highest revision, an equal older revision renumbered
        (rollback) or a new one created; returns it."""
        with self._lock:
            workload = self.objects[self._key_for(kind, namespace, name)]
            uid = workload["metadata"]["uid"]
            history = sorted(
                (
                    obj
                    for key, obj in self.objects.items()
                    if key[:3] == ("apps/v1", namespace, "controllerrevisions")
                    and any(
                        ref.get("uid") == uid and ref.get("controller")
                        for ref in obj["metadata"].get("ownerReferences") or []
                    )
                ),
                key=lambda obj: obj["revision"],
            )
            top = history[-1]["revision"] if history else 0
            fresh = make_controller_revision(workload, revision=top + 1)
            equal = [obj for obj in history if obj["data"] == fresh["data"]]
            if not equal:
                return self.add(fresh)
            if equal[-1]["revision"] != top:
                equal[-1]["revision"] = top + 1
                equal[-1]["metadata"]["resourceVersion"] = self._next_version()
            return copy.deepcopy(equal[-1])

    def fail_next(
        self,
        status: int,
        message: str | None = None,
        *,
        reason: str | None = None,
        method: str | None = None,
        times: int = 1,
        content_type: str = "application/json",
        body: bytes | None = None,
    ) -> None:
        """Answer the next `times` requests (of `method`, if given) with an error.

        By default a Status object; `body` (with `content_type`) replaces it verbatim.
        """
        with self._lock:
            self._faults.append(
                Fault(
                    status=status,
                    message=message,
                    reason=reason,
                    method=method,
                    times=times,
                    content_type=content_type,
                    body=body,
                )
            )

    def hang_next(self, seconds: float = 30.0, *, method: str | None = None) -> None:
        """Hold the next request (of `method`) `seconds` before answering (stop() releases)."""
        with self._lock:
            self._faults.append(Fault(hang=seconds, method=method))

    def requests_to(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests, filtered by method and/or exact path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def writes(self) -> list[RecordedRequest]:
        """Recorded requests that may change state (POST, PUT, PATCH, DELETE)."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    # request handling (called from the handler threads)

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Answer:
        """Record the request, apply a pending fault, else route it."""
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        content_type = headers.get("content-type")
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        request = RecordedRequest(method, split.path, query, content_type, body, raw, headers)
        with self._lock:
            self.requests.append(request)
            fault = self._take_fault(method)
        hang = 0.0
        if fault is not None:
            if fault.status is not None:
                payload = fault.body
                if payload is None:
                    payload = _dump(
                        status_body(
                            fault.status,
                            fault.message or f"injected failure {fault.status}",
                            reason=fault.reason,
                        )
                    )
                return _Answer(fault.status, payload, fault.content_type)
            hang = fault.hang
        try:
            with self._lock:
                code, answer = self._route(request)
        except ApiFailure as failure:
            return _Answer(failure.code, _dump(failure.body), hang=hang)
        if isinstance(answer, _Text):
            return _Answer(code, answer.body, "text/plain", hang=hang)
        return _Answer(code, _dump(answer), hang=hang)

    def wait_released(self, seconds: float) -> None:
        """Block a handler thread for a hang fault (returns early on stop())."""
        self._release.wait(seconds)

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _key_for(self, kind: str, namespace: str, name: str) -> Key:
        api_version = API_VERSIONS.get(kind)
        if api_version is None:  # a registered kind: the first one of that name
            api_version = next((v for v, k in self.kinds if k == kind), "v1")
        definition = self.kinds.get((api_version, kind))
        if definition is None:
            return (api_version, namespace, kind.lower() + "s", name)
        return (api_version, namespace if definition.namespaced else "", definition.plural, name)

    def _definition(self, api_version: str, plural: str) -> KindDef | None:
        return next(
            (d for d in self.kinds.values() if (d.api_version, d.plural) == (api_version, plural)),
            None,
        )

    def _discovery(self, m: re.Match[str]) -> JSON:
        """The discovery document for /api, /api/v1, /apis, /apis/<group>[/<version>]."""
        versions: dict[str, list[str]] = {}
        for definition in self.kinds.values():
            group, _, version = definition.api_version.rpartition("/")
            versions.setdefault(group, [])
            if version not in versions[group]:
                versions[group].append(version)

        def group_doc(name: str) -> JSON:
            listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions[name]]
            return {"name": name, "versions": listed, "preferredVersion": listed[0]}

        if m.group(0).rstrip("/") == "/api":
            return {"kind": "APIVersions", "versions": versions.get("", [])}
        if m.group(0).rstrip("/") == "/apis":
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [group_doc(g) for g in sorted(versions) if g],
            }
        group = m["group"] or ""
        version = m["core"] if m["core"] is not None else m["version"]
        if version is None:
            if group not in versions or not group:
                raise ApiFailure(404, "the server could not find the requested resource")
            return {"kind": "APIGroup", "apiVersion": "v1", **group_doc(group)}
        group_version = f"{group}/{version}" if group else version
        served = [d for d in self.kinds.values() if d.api_version == group_version]
        if not served:
            raise ApiFailure(404, "the server could not find the requested resource")
        resources: list[JSON] = []
        for d in served:
            resources.append(
                {
                    "name": d.plural,
                    "singularName": d.kind.lower(),
                    "namespaced": d.namespaced,
                    "kind": d.kind,
                    "verbs": list(VERBS),
                }
            )
            # Subresources are listed too, as on a real server: a client must skip them.
            if d.plural in WITH_STATUS:
                resources.append(
                    {
                        "name": f"{d.plural}/status",
                        "singularName": "",
                        "namespaced": d.namespaced,
                        "kind": d.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
            if d.plural == "pods":
                resources.append(
                    {
                        "name": "pods/log",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": ["get"],
                    }
                )
            if d.plural in SCALABLE:
                resources.append(
                    {
                        "name": f"{d.plural}/scale",
                        "singularName": "",
                        "namespaced": d.namespaced,
                        "group": "autoscaling",
                        "version": "v1",
                        "kind": "Scale",
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }

    def _route(self, request: RecordedRequest) -> tuple[int, Any]:
        discovery = _DISCOVERY_PATH.match(request.path)
        if discovery is not None and request.method == "GET":
            return 200, self._discovery(discovery)
        m = _PATH.match(request.path)
        if m is not None and m["core"] and m["plural"] == "pods" and m["sub"] == "log":
            if request.method != "GET":
                raise ApiFailure(
                    405,
                    f"the server does not allow this method on the requested "
                    f"resource ({request.method} {request.path})",
                )
            return 200, self._pod_log(m["namespace"] or "", m["name"], request.query)
        if m is None or (m["sub"] is not None and m["sub"] not in ("scale", "status")):
            raise ApiFailure(404, "the server could not find the requested resource")
        group = m["group"] or ""
        api_version = f"{group}/{m['version']}" if group else "v1"
        plural, name, sub = m["plural"], m["name"], m["sub"]
        definition = self._definition(api_version, plural)
        cluster_scoped = (not definition.namespaced) if definition else plural in CLUSTER_SCOPED
        namespace = "" if cluster_scoped else (m["namespace"] or "")
        if sub == "scale" and plural not in SCALABLE:
            raise ApiFailure(404, "the server could not find the requested resource")
        key: Key = (api_version, namespace, plural, name or "")
        if not self._dry_run(request):
            return self._call(request, key, m["namespace"], cluster_scoped, sub)
        # dryRun=All: the whole call runs (validation, conflicts, defaults), then the state is
        # put back as it was, so nothing is stored and no resourceVersion is used up.
        objects, version = dict(self.objects), self._resource_version
        managers = {k: list(v) for k, v in self.field_managers.items()}
        try:
            code, answer = self._call(request, key, m["namespace"], cluster_scoped, sub)
        finally:
            self.objects.clear()
            self.objects.update(objects)
            self.field_managers.clear()
            self.field_managers.update(managers)
            self._resource_version = version
        answer = copy.deepcopy(answer)
        meta = answer.get("metadata") if isinstance(answer, dict) else None
        if isinstance(meta, dict) and "name" in meta:
            # As the real server answers: an update keeps the stored resourceVersion, a create
            # has none (it was never written).
            before = objects.get((key[0], key[1], key[2], meta["name"]))
            if before is None:
                meta.pop("resourceVersion", None)
            else:
                meta["resourceVersion"] = before["metadata"]["resourceVersion"]
        return code, answer

    @staticmethod
    def _dry_run(request: RecordedRequest) -> bool:
        value = request.query.get("dryRun")
        if value is None:
            return False
        if value != "All":
            raise ApiFailure(400, f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return request.method in ("POST", "PUT", "PATCH", "DELETE")

    def _writer(self, request: RecordedRequest) -> _Writer:
        """The manager of a non-apply write: fieldManager, else the test's default, else the
        User-Agent's product (what the real server derives)."""
        manager = request.query.get("fieldManager") or self.default_field_manager
        if not manager:
            agent = request.headers.get("user-agent") or "unknown"
            manager = agent.split("/", 1)[0]
        return _Writer(manager)

    def _call(
        self,
        request: RecordedRequest,
        key: Key,
        path_namespace: str | None,
        cluster_scoped: bool,
        sub: str | None,
    ) -> tuple[int, Any]:
        method = request.method
        if not key[3]:
            if method == "GET":
                return 200, self._list(key[0], path_namespace, key[2], request.query)
            if method == "POST" and (key[1] or cluster_scoped):
                return 201, self._create(
                    key[0], key[1], key[2], request.body, self._writer(request)
                )
        elif method == "GET":
            obj = self._existing(key)
            return 200, _scale_view(obj) if sub == "scale" else obj
        elif method == "PATCH":
            return self._patch(key, sub, request)
        elif method == "PUT":
            return 200, self._put(key, sub, request.body, self._writer(request))
        elif method == "DELETE" and sub is None:
            obj = self._existing(key)
            del self.objects[key]
            return 200, obj
        raise ApiFailure(
            405,
            f"the server does not allow this method on the requested resource "
            f"({method} {request.path})",
        )

    def _pod_log(self, namespace: str, name: str, query: dict[str, str]) -> _Text:
        """GET pods/<name>/log as the API server answers it (through the kubelet)."""
        pod = self._existing(("v1", namespace, "pods", name))
        spec = pod.get("spec") or {}
        names = [
            c["name"]
            for group in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(group) or []
        ]
        container = query.get("container") or ""
        if not container:
            main = [c["name"] for c in spec.get("containers") or []]
            if len(main) != 1:
                raise ApiFailure(
                    400,
                    f"a container name must be specified for pod {name}, "
                    f"choose one of: [{' '.join(main)}]",
                )
            container = main[0]
        if container not in names:
            raise ApiFailure(400, f"container {container} is not valid for pod {name}")
        previous = _parse_bool(query.get("previous", "false"), "previous")
        tail = _log_number(query, "tailLines", minimum=0)
        limit = _log_number(query, "limitBytes", minimum=1)
        text = self.logs.get((namespace, name, container, previous))
        if text is None:
            if previous:
                raise ApiFailure(
                    400, f'previous terminated container "{container}" in pod "{name}" not found'
                )
            status = _container_status(pod, container)
            waiting = (status.get("state") or {}).get("waiting")
            if waiting is not None and not (status.get("lastState") or {}).get("terminated"):
                raise ApiFailure(
                    400,
                    f'container "{container}" in pod "{name}" is waiting to '
                    f"start: {waiting.get('reason') or 'ContainerCreating'}",
                )
            text = ""
        data = text.encode()
        if tail is not None:
            # The kubelet counts "\n"-terminated lines; an unterminated last line counts too.
            lines = [line + b"\n" for line in data.split(b"\n")]
            if data.endswith(b"\n") or not data:
                lines.pop()
            else:
                lines[-1] = lines[-1][:-1]
            data = b"".join(lines[len(lines) - tail :]) if tail else b""
        if limit is not None:
            data = data[:limit]  # the kubelet stops writing after limitBytes
        return _Text(data)

    def _existing(self, key: Key) -> JSON:
        obj = self.objects.get(key)
        if obj is None:
            raise _not_found(key)
        return obj

    def _list(
        self, api_version: str, namespace: str | None, plural: str, query: dict[str, str]
    ) -> JSON:
        matches = label_matcher(query.get("labelSelector", ""))
        fields = _field_matcher(query.get("fieldSelector", ""), plural)
        items = []
        for (version, ns, kind_plural, _name), obj in sorted(self.objects.items()):
            if (version, kind_plural) != (api_version, plural):
                continue
            if namespace is not None and ns != namespace:
                continue
            if matches(obj["metadata"].get("labels") or {}) and fields(obj):
                # The real server leaves kind and apiVersion out of list items.
                item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
                items.append(item)
        definition = self._definition(api_version, plural)
        kind = definition.kind if definition else KINDS.get(plural, plural.rstrip("s").capitalize())
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(self._resource_version)},
            "items": items,
        }

    def _create(
        self, api_version: str, namespace: str, plural: str, body: Any, writer: _Writer
    ) -> JSON:
        if not isinstance(body, dict) or not (body.get("metadata") or {}).get("name"):
            raise ApiFailure(422, "metadata.name: Required value: name is required")
        body_namespace = body["metadata"].get("namespace")
        if namespace and body_namespace and body_namespace != namespace:
            raise ApiFailure(
                400,
                "the namespace of the provided object does not match the "
                "namespace sent on the request",
            )
        key: Key = (api_version, namespace, plural, body["metadata"]["name"])
        if key in self.objects:
            raise ApiFailure(
                409, f'{_resource(key)} "{key[3]}" already exists', reason="AlreadyExists"
            )
        obj = copy.deepcopy(body)
        definition = self._definition(api_version, plural)
        obj["apiVersion"] = api_version
        obj["kind"] = obj.get("kind") or (definition.kind if definition else KINDS.get(plural, ""))
        if plural in WITH_STATUS:
            obj.pop("status", None)
        meta = obj["metadata"]
        meta.pop("managedFields", None)
        if namespace:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta.update(
            uid=str(uuid.uuid4()),
            generation=1,
            creationTimestamp=now_rfc3339(),
            resourceVersion=self._next_version(),
        )
        _validate(key, obj)
        _take_ownership(api_version, None, None, obj, writer)
        self.objects[key] = obj
        return obj

    def _patch(self, key: Key, sub: str | None, request: RecordedRequest) -> tuple[int, Any]:
        media = (request.content_type or "").split(";")[0].strip()
        body = request.body
        force = request.query.get("force")
        if force is not None and media != APPLY:
            raise ApiFailure(
                400, "force: Invalid value: force flag must only be set for apply patches"
            )
        if media == APPLY:
            manager = request.query.get("fieldManager")
            if not manager:
                raise ApiFailure(
                    400, "PATCH " + request.path + ": fieldManager is required for apply requests"
                )
            if not isinstance(body, dict):
                raise ApiFailure(400, "apply patch must be an object")
            self._check_apply_body(key, sub, body)
            writer = _Writer(manager, apply=body, force=force == "true")
            self.field_managers.setdefault(key, []).append(manager)
            if key not in self.objects and sub is None:
                return 201, self._create(key[0], key[1], key[2], body, writer)
        elif media not in (STRATEGIC, MERGE, JSON_PATCH):
            raise ApiFailure(
                415,
                f"the body of the request was in an unknown format - accepted "
                f"media types include: {JSON_PATCH}, {MERGE}, {APPLY}, "
                f"{STRATEGIC}",
            )
        else:
            writer = self._writer(request)
        current = self._existing(key)
        view = _scale_view(current) if sub == "scale" else current
        if media == JSON_PATCH:
            patched = json_patch(view, body)
        elif not isinstance(body, dict):
            raise ApiFailure(400, "the patch body must be a JSON object")
        elif media == MERGE:
            patched = merge_patch(view, body)
        else:  # strategic merge, and (simplified) server-side apply: the live object's other
            # fields stay, the applied ones are merged in
            patched = strategic_merge(view, body)
        if not isinstance(patched, dict):
            raise ApiFailure(422, "the patched object is not an object")
        return 200, self._write(key, sub, current, patched, writer)

    def _check_apply_body(self, key: Key, sub: str | None, body: JSON) -> None:
        """What the real server refuses in an apply body before looking at the object."""
        meta = body.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ApiFailure(400, "metadata.name: Required value: name is required")
        if meta.get("managedFields") is not None:
            raise ApiFailure(400, "metadata.managedFields must be nil")
        if meta["name"] != key[3]:
            raise ApiFailure(
                400,
                f"the name of the object ({meta['name']}) does not match the "
                f"name on the URL ({key[3]})",
            )
        if key[1] and meta.get("namespace") and meta["namespace"] != key[1]:
            raise ApiFailure(
                400,
                "the namespace of the provided object does not match the "
                "namespace sent on the request",
            )
        definition = self._definition(key[0], key[2])
        if sub is None and definition is not None and body.get("kind") != definition.kind:
            raise ApiFailure(
                400,
                f"the kind of the object ({body.get('kind')}) does not match "
                f"the resource ({definition.kind})",
            )

    def _put(self, key: Key, sub: str | None, body: Any, writer: _Writer) -> Any:
        if not isinstance(body, dict):
            raise ApiFailure(400, "the body must be a JSON object")
        return self._write(key, sub, self._existing(key), body, writer)

    def _write(
        self, key: Key, sub: str | None, current: JSON, incoming: JSON, writer: _Writer
    ) -> Any:
        """Store `incoming` for the object, the scale or the status; returns what the server
        answers (the object, or the Scale for /scale)."""
        wanted = (incoming.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiFailure(
                409,
                f'Operation cannot be fulfilled on {_resource(key)} "{key[3]}": '
                f"the object has been modified; please apply your changes to "
                f"the latest version and try again",
                reason="Conflict",
            )
        new = copy.deepcopy(current)
        if sub == "scale":
            replicas = (incoming.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise ApiFailure(
                    422,
                    f'Scale.autoscaling "{key[3]}" is invalid: '
                    f"spec.replicas: Invalid value: {replicas!r}",
                )
            new["spec"]["replicas"] = replicas
        elif sub == "status":
            new["status"] = copy.deepcopy(incoming.get("status"))
        else:
            new = copy.deepcopy(incoming)
            new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
            meta = new.setdefault("metadata", {})
            for fixed in ("name", "namespace", "uid", "creationTimestamp", "generation"):
                if fixed in current["metadata"]:
                    meta[fixed] = current["metadata"][fixed]
            if key[2] in WITH_STATUS:
                new.pop("status", None)
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        _take_ownership(key[0], sub, current, new, writer)
        if new != current:
            _validate(key, new)
            if new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"].get("generation", 0) + 1
            new["metadata"]["resourceVersion"] = self._next_version()
            self.objects[key] = new
        return _scale_view(new) if sub == "scale" else new


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _resource(key: Key) -> str:
    group = key[0].split("/")[0] if "/" in key[0] else ""
    return f"{key[2]}.{group}" if group else key[2]


def _not_found(key: Key) -> ApiFailure:
    group = key[0].split("/")[0] if "/" in key[0] else ""
    return ApiFailure(
        404, f'{_resource(key)} "{key[3]}" not found', name=key[3], group=group, kind=key[2]
    )


def _scale_view(obj: JSON) -> JSON:
    """The autoscaling/v1 Scale the server shows for a scalable object."""
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selector_string(obj["spec"].get("selector")),
        },
    }


def _validate(key: Key, obj: JSON) -> None:
    """The one validation that matters here: a workload's selector must match its template."""
    if key[2] not in WITH_SELECTOR:
        return
    spec = obj.get("spec") or {}
    wanted = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        raise ApiFailure(
            422,
            f'{KINDS.get(key[2], key[2])}.{key[0].split("/")[0]} "{key[3]}" '
            f"is invalid: spec.template.metadata.labels: Invalid value: "
            f"{labels!r}: `selector` does not match template `labels`",
        )


def _field_matcher(selector: str, plural: str) -> Callable[[JSON], bool]:
    checks: list[Callable[[JSON], bool]] = []
    supported = {"metadata.name", "metadata.namespace", *FIELD_LABELS.get(plural, ())}
    for term in _split_terms(selector):
        negate = "!=" in term
        name, value = (p.strip() for p in re.split("!=|==?", term, maxsplit=1))
        if name not in supported:
            raise ApiFailure(400, f'field label not supported: "{name}"')
        path = "source.component" if (plural, name) == ("events", "source") else name
        checks.append(lambda obj, p=path, v=value, n=negate: (_field_value(obj, p) == v) != n)
    return lambda obj: all(check(obj) for check in checks)


def _field_value(obj: JSON, path: str) -> str:
    """A field as the server's field selectors see it: a string, "" when missing."""
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    return str(node).lower() if isinstance(node, bool) else str(node)


def _parse_bool(value: str, name: str) -> bool:
    """Go's strconv.ParseBool, as the API server parses boolean query parameters."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ApiFailure(400, f'{name}: Invalid value: "{value}": not a boolean')


def _log_number(query: dict[str, str], name: str, *, minimum: int) -> int | None:
    """An integer pod log option, checked as the server validates PodLogOptions."""
    text = query.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ApiFailure(400, f'{name}: Invalid value: "{text}": not an integer') from None
    if value < minimum:
        rule = "must be greater than 0" if minimum else "must be greater than or equal to 0"
        raise ApiFailure(
            422, f'PodLogOptions "" is invalid: {name}: Invalid value: {value}: {rule}'
        )
    return value


def _container_status(pod: JSON, container: str) -> JSON:
    """The status of one container (init, app or ephemeral), {} when not reported."""
    status = pod.get("status") or {}
    for group in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for item in status.get(group) or []:
            if item.get("name") == container:
                return dict(item)
    return {}


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, like the API server; every verb goes to FakeKubeAPI.handle."""

    protocol_version = "HTTP/1.1"
    fake: FakeKubeAPI  # set on the subclass FakeKubeAPI.start makes

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.fake.handle(method, self.path, headers, raw)
        if answer.hang:
            self.fake.wait_released(answer.hang)
        try:
            self.send_response(answer.code)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            # The client gave up (a timeout test): nobody is left to read the answer.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections while the block runs (bound, never
    listening, so nothing else can take it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]

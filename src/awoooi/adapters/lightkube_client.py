"""Kubernetes through lightkube: the only module that imports a Kubernetes client."""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import httpx
from lightkube import AsyncClient, KubeConfig, SingleConfig, operators
from lightkube.config.kubeconfig import DEFAULT_KUBECONFIG
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ApiError
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.core.generic_client import ALL_NS
from lightkube.core.resource import (
    ApiInfo,
    GlobalResource,
    NamespacedResource,
    NamespacedSubResource,
    ResourceDef,
)
from lightkube.generic_resource import GenericGlobalResource, GenericNamespacedResource
from lightkube.models import autoscaling_v1
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector
from lightkube.resources import apps_v1, core_v1
from lightkube.types import CascadeType, PatchType

from awoooi.adapters.kube import (
    KubeConflict,
    KubeError,
    KubeKindNotServed,
    KubeNotFound,
    ObjectRef,
)
from awoooi.adapters.settings import KubeSettings

RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"

# `kubectl rollout undo` keeps these annotations from the Deployment and copies every other one
# from the ReplicaSet it rolls back to (k8s.io/kubectl/pkg/polymorphichelpers/rollback.go).
_UNDO_KEEP_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

_WORKLOADS: dict[str, type[NamespacedResource]] = {
    "Deployment": apps_v1.Deployment,
    "StatefulSet": apps_v1.StatefulSet,
    "DaemonSet": apps_v1.DaemonSet,
    "ReplicaSet": apps_v1.ReplicaSet,
}
_SCALES: dict[str, type[NamespacedSubResource]] = {
    "Deployment": apps_v1.DeploymentScale,
    "StatefulSet": apps_v1.StatefulSetScale,
    "ReplicaSet": apps_v1.ReplicaSetScale,
}
# A ReplicaSet's controller never replaces running pods when its template changes.
_RESTARTABLE = ("Deployment", "StatefulSet", "DaemonSet")

_SELECTOR_OPERATORS: dict[str, Callable[[list[str]], operators.Operator[Any]]] = {
    "In": operators.in_,
    "NotIn": operators.not_in,
    "Exists": lambda _values: operators.exists(),
    "DoesNotExist": lambda _values: operators.not_exists(),
}


def _error_type(code: int | None, conflict: type[KubeError]) -> type[KubeError]:
    """The KubeError subclass for an HTTP status (`conflict` for a 409)."""
    if code == 404:
        return KubeNotFound
    if code == 409:
        return conflict
    return KubeError


@contextmanager
def _api_errors(verb: str, what: str, *, conflict: type[KubeError] = KubeError) -> Iterator[None]:
    """Turn whatever lightkube or httpx raises into KubeError / KubeNotFound (and a 409 into
    `conflict`: only the caller knows whether a 409 means field ownership)."""
    try:
        yield
    except ApiError as exc:
        code = exc.status.code
        if code is None and exc.response is not None:
            code = exc.response.status_code
        message = f"{verb} {what}: {exc.status.message or exc.status.reason or 'API error'}"
        raise _error_type(code, conflict)(message, status=code) from exc
    except httpx.HTTPStatusError as exc:
        # lightkube only decodes an error whose Content-Type is exactly "application/json"; a
        # proxy's HTML page or a charset parameter leaves the plain httpx error.
        code = exc.response.status_code
        message = f"{verb} {what}: {_status_text(exc.response)}"
        raise _error_type(code, conflict)(message, status=code) from exc
    except httpx.TimeoutException as exc:
        raise KubeError(f"{verb} {what}: the API server did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise KubeError(f"{verb} {what}: cannot reach the API server ({_describe(exc)})") from exc
    except (LightkubeConfigError, OSError) as exc:
        # Credentials are resolved per request: a missing token file or a failing exec plugin.
        raise KubeError(f"{verb} {what}: kubernetes credentials: {exc}") from exc
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        # lightkube's own failures: an error response without a Content-Type (KeyError) or with
        # a body that is not JSON (ValueError) - both while converting an HTTP error, whose
        # status is then kept - an object missing a field, a closed client (RuntimeError).
        http_error = _http_error_behind(exc)
        if http_error is not None:
            code = http_error.response.status_code
            message = f"{verb} {what}: {_status_text(http_error.response)}"
            raise _error_type(code, conflict)(message, status=code) from exc
        raise KubeError(f"{verb} {what}: {_describe(exc)}") from exc


def _http_error_behind(exc: BaseException) -> httpx.HTTPStatusError | None:
    """The HTTP error being handled when `exc` was raised, if any (the json module chains
    its own StopIteration in between, hence the walk)."""
    seen: BaseException | None = exc.__context__
    for _ in range(5):
        if seen is None or isinstance(seen, httpx.HTTPStatusError):
            return seen
        seen = seen.__context__
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _status_text(response: httpx.Response) -> str:
    """The message of a non-lightkube error response: its Status, else its first bytes."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.text.strip()[:200]
    return f"HTTP {response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")


def _rfc3339(at: datetime) -> str:
    """`at` as RFC 3339; a naive datetime is taken as UTC (RFC 3339 requires an offset)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.isoformat()


def _revision(annotations: Mapping[str, str] | None) -> int | None:
    """The Deployment revision in an object's annotations, or None if absent or garbled."""
    value = (annotations or {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _selector_pairs(selector: LabelSelector | None) -> list[tuple[str, Any]]:
    """A Deployment's label selector in lightkube's list form (matchLabels and matchExpressions)."""
    if selector is None:
        return []
    pairs: list[tuple[str, Any]] = [
        (key, str(value)) for key, value in (selector.matchLabels or {}).items()
    ]
    for requirement in selector.matchExpressions or []:
        make = _SELECTOR_OPERATORS.get(requirement.operator)
        if make is None:
            raise ValueError(f"unsupported selector operator {requirement.operator!r}")
        pairs.append((requirement.key, make(list(requirement.values or []))))
    return pairs


def _template_without_hash(template: PodTemplateSpec | None) -> dict[str, Any]:
    """A pod template as a plain dict, minus the ReplicaSet's pod-template-hash label."""
    if template is None:
        return {}
    # to_dict() returns the unread parts of a lazily decoded object as the server sent them, so
    # fields newer than lightkube's models survive the copy; deepcopy keeps the source intact.
    # (lightkube's to_dict is unannotated, hence the cast.)
    data: dict[str, Any] = copy.deepcopy(cast(Any, template).to_dict())
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("labels"), dict):
        metadata["labels"].pop(POD_TEMPLATE_HASH_LABEL, None)
        if not metadata["labels"]:
            del metadata["labels"]
    return data


def _owned_by(obj: apps_v1.ReplicaSet | apps_v1.ControllerRevision, uid: str | None) -> bool:
    """True when the object's controller is the object with this uid."""
    refs = obj.metadata.ownerReferences if obj.metadata is not None else None
    return uid is not None and any(ref.uid == uid and ref.controller for ref in refs or [])


def _plain_template(template: PodTemplateSpec | None) -> dict[str, Any]:
    """A workload's pod template as a plain dict (a deep copy, unknown fields kept)."""
    if template is None:
        return {}
    return copy.deepcopy(cast(dict[str, Any], cast(Any, template).to_dict()))


def _revision_patch(revision: apps_v1.ControllerRevision, where: str) -> dict[str, Any]:
    """A ControllerRevision's data: the strategic merge patch that restores its pod template
    (`{"spec": {"template": {..., "$patch": "replace"}}}`, as the StatefulSet and DaemonSet
    controllers record it)."""
    data = revision.data
    if hasattr(data, "to_dict"):
        data = data.to_dict()
    spec = data.get("spec") if isinstance(data, Mapping) else None
    template = spec.get("template") if isinstance(spec, Mapping) else None
    if not isinstance(template, Mapping):
        raise KubeError(f"{where}: revision {revision.revision} holds no pod template")
    return copy.deepcopy(dict(cast(Mapping[str, Any], data)))


def _pick_controller_revision(
    where: str, history: Mapping[int, apps_v1.ControllerRevision], to_revision: int | None
) -> int:
    """kubectl's rule for StatefulSets and DaemonSets: the explicit revision, else the second
    highest (the controller always holds the running template in the highest one)."""
    if to_revision:
        if to_revision not in history:
            raise KubeError(f"{where}: revision {to_revision} not found in its history")
        return to_revision
    if len(history) < 2:
        raise KubeError(f"{where}: no previous revision to roll back to")
    return sorted(history)[-2]


# -- generic objects (drift) -------------------------------------------------------------------

# A missing kind is looked up again (a CRD installed since) at most this often per group version.
DISCOVERY_RETRY_SECONDS = 30.0
# Objects per LIST request; lightkube follows the continue tokens (kubectl uses 500 too).
_LIST_CHUNK = 500
# RFC 1123 names allow far less, but the API server is the judge of what exists; only refuse
# what would change the request path.
_BAD_NAME = re.compile(r"[/\x00-\x1f\x7f]|^\.{1,2}$")
_API_VERSION = re.compile(r"(?:(?P<group>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)/)?(?P<version>v[a-z0-9]+)")


@dataclass(frozen=True)
class _KindInfo:
    """What API discovery says about one kind: its resource name, scope and verbs."""

    plural: str
    namespaced: bool
    verbs: frozenset[str]


@dataclass(frozen=True)
class _GroupVersion:
    """One group version's discovery document, reduced to its kinds."""

    kinds: dict[str, _KindInfo]
    fetched_at: float


def _split_api_version(api_version: str) -> tuple[str, str]:
    """(group, version): ("apps", "v1") for "apps/v1", ("", "v1") for the core "v1"."""
    match = _API_VERSION.fullmatch(api_version)
    if match is None:
        raise KubeError(f"{api_version!r} is not an apiVersion (group/version, or v1)")
    return match["group"] or "", match["version"]


def _check_name(value: str, what: str, where: str) -> None:
    if not value or _BAD_NAME.search(value):
        raise KubeError(f"{where}: {value!r} is not a valid {what}")


def _kinds_of(document: Any) -> dict[str, _KindInfo]:
    """The kinds an APIResourceList serves, subresources (deployments/status) left out."""
    kinds: dict[str, _KindInfo] = {}
    resources = document.get("resources") if isinstance(document, dict) else None
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, dict):
            continue
        plural, kind = resource.get("name"), resource.get("kind")
        if not isinstance(plural, str) or not isinstance(kind, str) or "/" in plural:
            continue
        verbs = resource.get("verbs")
        kinds.setdefault(
            kind,
            _KindInfo(
                plural=plural,
                namespaced=bool(resource.get("namespaced")),
                verbs=frozenset(v for v in verbs or [] if isinstance(v, str)),
            ),
        )
    return kinds


@functools.lru_cache(maxsize=512)
def _generic_resource(
    group: str, version: str, kind: str, info: _KindInfo
) -> type[GenericNamespacedResource] | type[GenericGlobalResource]:
    """A lightkube generic resource class for the kind, deliberately not registered: lightkube's
    registry would hand back its typed model for built-in kinds (Deployment as a dataclass, not
    the dict the server sent) and refuses a second definition of a kind."""
    api_info = ApiInfo(
        resource=ResourceDef(group, version, kind),
        plural=info.plural,
        # lightkube checks these before building a request; discovery's verbs are the real gate.
        verbs=["get", "list", "global_list", "patch", "delete"],
    )
    base = GenericNamespacedResource if info.namespaced else GenericGlobalResource
    return type(kind, (base,), {"_api_info": api_info})


# Fields the API server sets and owns: an apply body carrying them is refused (managedFields),
# turned into a precondition (resourceVersion, uid) or would claim them for our field manager.
_SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def _identity(obj: Any) -> tuple[str, str, str, str | None]:
    """(apiVersion, kind, name, namespace) of an object to apply; KubeError when missing."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    api_version = obj.get("apiVersion") if isinstance(obj, Mapping) else None
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        raise KubeError("apply: the object needs a string apiVersion and kind")
    if not isinstance(name, str):
        raise KubeError(f"apply {api_version} {kind}: the object needs a metadata.name")
    if namespace is not None and not isinstance(namespace, str):
        raise KubeError(f"apply {api_version} {kind} {name}: metadata.namespace is not a string")
    return api_version, kind, name, namespace or None


def _apply_body(obj: Mapping[str, Any], namespace: str | None) -> dict[str, Any]:
    """A copy of `obj` fit for an apply body: no status or server-set metadata, and the
    namespace the request goes to (none for a cluster-scoped kind)."""
    body = {key: copy.deepcopy(value) for key, value in obj.items() if key != "status"}
    metadata = {
        key: value
        for key, value in cast(Mapping[str, Any], body["metadata"]).items()
        if key not in _SERVER_METADATA and key != "namespace"
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    body["metadata"] = metadata
    return body


def _plain(obj: Any, api_version: str, kind: str) -> dict[str, Any]:
    """A lightkube Generic (a dict subclass holding the decoded JSON) as a plain dict."""
    data = dict(cast(Mapping[str, Any], obj))
    data.setdefault("apiVersion", api_version)
    data.setdefault("kind", kind)
    return data


class LightkubeClient:
    """KubeClient over a lightkube AsyncClient (httpx underneath; no kubectl, no shell)."""

    def __init__(
        self, client: AsyncClient, *, discovery_retry: float = DISCOVERY_RETRY_SECONDS
    ) -> None:
        """Wrap an open lightkube client; `aclose` closes it."""
        self._client = client
        # API discovery per group version, fetched on first use (drift reads many kinds).
        self._discovery: dict[str, _GroupVersion] = {}
        self._discovery_retry = discovery_retry
        self._discovery_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, kube: KubeSettings) -> LightkubeClient:
        """A client for the `kube` settings (server, kubeconfig and context, or in-cluster)."""
        return cls.connect(
            server=kube.server,
            kubeconfig=str(kube.kubeconfig) if kube.kubeconfig else None,
            context=kube.context,
            in_cluster=kube.in_cluster,
            timeout=kube.timeout_seconds,
        )

    @classmethod
    def connect(
        cls,
        *,
        server: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        in_cluster: bool = False,
        timeout: float = 30.0,
        discovery_retry: float = DISCOVERY_RETRY_SECONDS,
    ) -> LightkubeClient:
        """A client for `server`, else the pod's service account, else a kubeconfig, else
        lightkube's auto-detection (service account, $KUBECONFIG, ~/.kube/config)."""
        try:
            config: KubeConfig | SingleConfig
            if server is not None:
                # KubeConfig.from_server leaves the user unset, which lightkube 0.22 then
                # rejects ("Missing user"): an empty user means "no credentials".
                config = KubeConfig.from_one(cluster=Cluster(server=server), user=User())
            elif in_cluster:
                config = KubeConfig.from_service_account()
            elif kubeconfig is not None or context is not None:
                path = kubeconfig or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
                config = _single(KubeConfig.from_file(path), context)
            else:
                config = KubeConfig.from_env()
            client = AsyncClient(config=config, timeout=httpx.Timeout(timeout))
        except (LightkubeConfigError, OSError, KeyError, ValueError, AssertionError) as exc:
            # KeyError: in_cluster without KUBERNETES_SERVICE_HOST; AssertionError: a context
            # without a user (lightkube asserts one exists).
            raise KubeError(f"kubernetes configuration: {_describe(exc)}") from exc
        return cls(client, discovery_retry=discovery_retry)

    async def rollout_restart(self, ref: ObjectRef, *, at: datetime) -> None:
        """Set the template's restartedAt annotation, exactly as `kubectl rollout restart`."""
        if ref.kind not in _RESTARTABLE:
            raise KubeError(f"restart {ref}: a {ref.kind} cannot be restarted")
        patch = {
            "spec": {
                "template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: _rfc3339(at)}}}
            }
        }
        with _api_errors("restart", str(ref)):
            await self._client.patch(
                _WORKLOADS[ref.kind],
                ref.name,
                patch,
                namespace=ref.namespace,
                patch_type=PatchType.STRATEGIC,
            )

    async def get_replicas(self, ref: ObjectRef) -> int:
        """Desired replicas from the scale subresource."""
        scale_cls = self._scale_resource("get replicas", ref)
        with _api_errors("get replicas", str(ref)):
            scale = cast(
                autoscaling_v1.Scale,
                await self._client.get(scale_cls, ref.name, namespace=ref.namespace),
            )
            return int(scale.spec.replicas or 0) if scale.spec is not None else 0

    async def scale(self, ref: ObjectRef, replicas: int) -> None:
        """Merge-patch spec.replicas on the scale subresource (what `kubectl scale` sends)."""
        if replicas < 0:
            raise KubeError(f"scale {ref}: replicas must be >= 0, not {replicas}")
        scale_cls = self._scale_resource("scale", ref)
        with _api_errors("scale", str(ref)):
            await self._client.patch(
                scale_cls,
                ref.name,
                {"spec": {"replicas": replicas}},
                namespace=ref.namespace,
                patch_type=PatchType.MERGE,
            )

    async def rollout_undo(self, ref: ObjectRef, *, to_revision: int | None = None) -> int:
        """Put an earlier pod template back into the workload, as `kubectl rollout undo`
        does (a Deployment from its ReplicaSets, a StatefulSet or DaemonSet from its
        ControllerRevisions); returns the revision rolled back to."""
        if to_revision is not None and to_revision < 0:
            raise KubeError(f"undo {ref}: revision {to_revision} is not a revision")
        if ref.kind in ("StatefulSet", "DaemonSet"):
            return await self._undo_to_controller_revision(ref, to_revision)
        if ref.kind != "Deployment":
            raise KubeError(
                f"undo {ref}: only a Deployment, StatefulSet or DaemonSet can be rolled back, "
                f"not a {ref.kind}"
            )
        with _api_errors("undo", str(ref)):
            deployment = await self._client.get(
                apps_v1.Deployment, ref.name, namespace=ref.namespace
            )
            if deployment.spec.paused:
                raise KubeError(f"undo {ref}: the Deployment is paused; resume it first")
            uid = deployment.metadata.uid if deployment.metadata is not None else None
            pairs = _selector_pairs(deployment.spec.selector)
            history: dict[int, apps_v1.ReplicaSet] = {}
            # lightkube types `labels` as a dict but also takes (key, value) pairs, which keep
            # a key that is in both matchLabels and matchExpressions.
            labels = cast("dict[str, Any] | None", pairs or None)
            async for rs in self._client.list(
                apps_v1.ReplicaSet, namespace=ref.namespace, labels=labels
            ):
                # The selector may also match ReplicaSets of another Deployment; only the
                # controller reference says which are this one's history.
                revision = _revision(rs.metadata.annotations if rs.metadata else None)
                if revision is not None and _owned_by(rs, uid):
                    history.setdefault(revision, rs)
            target = self._pick_revision(ref, deployment, history, to_revision)
            template = _template_without_hash(history[target].spec.template)
            if template == _template_without_hash(deployment.spec.template):
                # kubectl skips the patch too: the Deployment already runs that template.
                return target
            annotations = self._undo_annotations(deployment, history[target])
            had_annotations = bool(deployment.metadata and deployment.metadata.annotations)
            patch = [
                {"op": "replace", "path": "/spec/template", "value": template},
                {
                    # JSON-patch "replace" needs the member to exist; "add" also overwrites.
                    "op": "replace" if had_annotations else "add",
                    "path": "/metadata/annotations",
                    "value": annotations,
                },
            ]
            await self._client.patch(
                apps_v1.Deployment,
                ref.name,
                patch,
                namespace=ref.namespace,
                patch_type=PatchType.JSON,
            )
        return target

    async def _undo_to_controller_revision(self, ref: ObjectRef, to_revision: int | None) -> int:
        """kubectl's StatefulSet/DaemonSet rollback: the chosen ControllerRevision's data (a
        strategic merge patch replacing spec.template) is patched into the workload, unless
        the workload already runs that template."""
        where = f"undo {ref}"
        resource = apps_v1.StatefulSet if ref.kind == "StatefulSet" else apps_v1.DaemonSet
        with _api_errors("undo", str(ref)):
            workload: apps_v1.StatefulSet | apps_v1.DaemonSet = await self._client.get(
                resource, ref.name, namespace=ref.namespace
            )
            uid = workload.metadata.uid if workload.metadata is not None else None
            labels = cast("dict[str, Any] | None", _selector_pairs(workload.spec.selector) or None)
            history: dict[int, apps_v1.ControllerRevision] = {}
            async for revision in self._client.list(
                apps_v1.ControllerRevision, namespace=ref.namespace, labels=labels
            ):
                # As for ReplicaSets: the selector may match another workload's revisions.
                if revision.revision is not None and _owned_by(revision, uid):
                    history.setdefault(revision.revision, revision)
            target = _pick_controller_revision(where, history, to_revision)
            patch = _revision_patch(history[target], where)
            wanted = {k: v for k, v in patch["spec"]["template"].items() if k != "$patch"}
            if wanted == _plain_template(workload.spec.template):
                # kubectl skips it too ("current template already matches revision N").
                return target
            await self._client.patch(
                resource,
                ref.name,
                patch,
                namespace=ref.namespace,
                patch_type=PatchType.STRATEGIC,
            )
        return target

    async def read_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str | None:
        """GET one container's log (pods/log, text); None on a 404 and on the 400 the server
        answers when there is no such log (no previous run, not started, no such container)."""
        where = f"{namespace}/Pod/{pod} container {container}" + (" (previous)" if previous else "")
        for value, what in ((namespace, "namespace"), (pod, "name"), (container, "container")):
            _check_name(value, what, f"log {where}")
        if tail_lines is not None and tail_lines < 0:
            raise KubeError(f"log {where}: tail_lines must be >= 0, not {tail_lines}")
        if limit_bytes is not None and limit_bytes < 1:
            raise KubeError(f"log {where}: limit_bytes must be >= 1, not {limit_bytes}")
        params = {"container": container}
        if previous:
            params["previous"] = "true"
        if tail_lines is not None:
            params["tailLines"] = str(tail_lines)
        if limit_bytes is not None:
            params["limitBytes"] = str(limit_bytes)
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        with _api_errors("log", where):
            async with self._http().stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    await response.aread()  # the Status body names the reason
                    if response.status_code in (400, 404):
                        return None
                    response.raise_for_status()
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if limit_bytes is not None and len(data) >= limit_bytes:
                        break  # a server (or proxy) that ignores limitBytes is cut here
        if limit_bytes is not None:
            del data[limit_bytes:]
        return data.decode("utf-8", "replace")

    async def delete_pod(
        self, namespace: str, name: str, *, grace_period_seconds: int | None = None
    ) -> None:
        """Delete one pod; None keeps the pod's own terminationGracePeriodSeconds."""
        with _api_errors("delete", f"{namespace}/Pod/{name}"):
            await self._client.delete(
                core_v1.Pod, name, namespace=namespace, grace_period=grace_period_seconds
            )

    async def patch(self, ref: ObjectRef, patch: dict[str, Any]) -> None:
        """Strategic-merge patch the workload."""
        with _api_errors("patch", str(ref)):
            await self._client.patch(
                _WORKLOADS[ref.kind],
                ref.name,
                patch,
                namespace=ref.namespace,
                patch_type=PatchType.STRATEGIC,
            )

    async def deployment_available(self, namespace: str, name: str) -> bool:
        """True when the controller has seen the latest spec, every replica is updated and
        available, no old replica remains, and the Available condition is True."""
        with _api_errors("get", f"{namespace}/Deployment/{name}"):
            deployment = await self._client.get(apps_v1.Deployment, name, namespace=namespace)
            generation = (deployment.metadata.generation if deployment.metadata else None) or 0
            # The API server defaults spec.replicas to 1; it is never missing on a stored object.
            desired = deployment.spec.replicas if deployment.spec.replicas is not None else 1
            status = deployment.status
            if status is None:
                return False
            available_condition = any(
                c.type == "Available" and c.status == "True" for c in status.conditions or []
            )
            return (
                (status.observedGeneration or 0) >= generation
                and (status.updatedReplicas or 0) == desired
                and (status.availableReplicas or 0) == desired
                # Old pods still terminating count in status.replicas (kubectl waits for them).
                and (status.replicas or 0) <= desired
                and available_condition
            )

    async def workload_available(self, ref: ObjectRef) -> bool:
        """A Deployment as `deployment_available`; a StatefulSet when every replica runs the
        update revision and is ready; a DaemonSet when every scheduled pod is updated and
        available (what `kubectl rollout status` waits for)."""
        if ref.kind == "Deployment":
            return await self.deployment_available(ref.namespace, ref.name)
        if ref.kind == "StatefulSet":
            with _api_errors("get", str(ref)):
                sts = await self._client.get(apps_v1.StatefulSet, ref.name, namespace=ref.namespace)
            generation = (sts.metadata.generation if sts.metadata else None) or 0
            desired = sts.spec.replicas if sts.spec.replicas is not None else 1
            status = sts.status
            return status is not None and (
                (status.observedGeneration or 0) >= generation
                and (status.updatedReplicas or 0) >= desired
                and (status.readyReplicas or 0) >= desired
                and (status.currentRevision or "") == (status.updateRevision or "")
            )
        if ref.kind == "DaemonSet":
            with _api_errors("get", str(ref)):
                ds = await self._client.get(apps_v1.DaemonSet, ref.name, namespace=ref.namespace)
            generation = (ds.metadata.generation if ds.metadata else None) or 0
            daemons = ds.status
            return daemons is not None and (
                (daemons.observedGeneration or 0) >= generation
                and (daemons.updatedNumberScheduled or 0) >= daemons.desiredNumberScheduled
                and (daemons.numberAvailable or 0) >= daemons.desiredNumberScheduled
            )
        raise KubeError(f"{ref.kind} has no rollout to wait for")

    async def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """GET one object of any kind as the server returns it; None on 404."""
        where = f"get {api_version} {kind} {namespace + '/' if namespace else ''}{name}"
        _check_name(name, "name", where)
        if namespace is not None:
            _check_name(namespace, "namespace", where)
        resource, info = await self._resource(api_version, kind, "get", where)
        if info.namespaced and namespace is None:
            # The client's default namespace would be a guess; a drift check must not guess.
            raise KubeError(f"{where}: {kind} is namespaced, a namespace is required")
        try:
            with _api_errors("get", where.removeprefix("get ")):
                if issubclass(resource, GenericNamespacedResource):
                    obj: Any = await self._client.get(resource, name, namespace=namespace)
                else:
                    obj = await self._client.get(cast(type[GlobalResource], resource), name)
        except KubeNotFound:
            return None
        return _plain(obj, api_version, kind)

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """LIST every object of a kind (all namespaces when `namespace` is None), apiVersion
        and kind filled in on each item (the server leaves them out of list items); with
        `limit`, only the first that many (no further page is fetched)."""
        where = f"list {api_version} {kind}" + (f" in {namespace}" if namespace else "")
        if namespace is not None:
            _check_name(namespace, "namespace", where)
        if limit is not None and limit < 1:
            raise KubeError(f"{where}: limit must be at least 1, not {limit}")
        chunk = min(_LIST_CHUNK, limit) if limit is not None else _LIST_CHUNK
        resource, _ = await self._resource(api_version, kind, "list", where)
        # lightkube builds selectors from (key, operator) pairs; an "exists" term encodes as
        # its bare key, which carries the caller's selector through verbatim.
        labels = cast(
            "dict[str, Any] | None",
            [(label_selector, operators.exists())] if label_selector else None,
        )
        items: list[dict[str, Any]] = []
        try:
            with _api_errors("list", where.removeprefix("list ")):
                if issubclass(resource, GenericNamespacedResource):
                    listing: Any = self._client.list(
                        resource,
                        namespace=namespace if namespace is not None else ALL_NS,
                        labels=labels,
                        chunk_size=chunk,
                    )
                else:  # cluster-scoped: a namespace means nothing, as for kubectl
                    listing = self._client.list(
                        cast(type[GlobalResource], resource),
                        labels=labels,
                        chunk_size=chunk,
                    )
                async for obj in listing:
                    items.append(_plain(obj, api_version, kind))
                    if limit is not None and len(items) >= limit:
                        break  # the next page is never requested
        except KubeNotFound:
            # The kind was served at discovery time and is gone now (a CRD removed).
            self._discovery.pop(api_version, None)
            raise
        return items

    async def apply_object(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str,
        dry_run: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply of an object of any kind (created when missing); returns what
        the server answers, the would-be object for a dry run."""
        api_version, kind, name, namespace = _identity(obj)
        where = f"{api_version} {kind} {namespace + '/' if namespace else ''}{name}"
        _check_name(name, "name", f"apply {where}")
        if namespace is not None:
            _check_name(namespace, "namespace", f"apply {where}")
        if not field_manager:
            raise KubeError(f"apply {where}: a field manager is required")
        resource, info = await self._resource(api_version, kind, "patch", f"apply {where}")
        # kubectl's rule: a manifest without a namespace goes to the default one; a
        # cluster-scoped kind has none, whatever the manifest says.
        target = (namespace or "default") if info.namespaced else None
        body = _apply_body(obj, target)
        where = f"{api_version} {kind} {target + '/' if target else ''}{name}"
        with _api_errors("apply", where, conflict=KubeConflict):
            if issubclass(resource, GenericNamespacedResource):
                applied: Any = await self._client.patch(
                    resource,
                    name,
                    body,
                    namespace=target,
                    patch_type=PatchType.APPLY,
                    field_manager=field_manager,
                    force=force,
                    dry_run=dry_run,
                )
            else:
                applied = await self._client.patch(
                    cast(type[GlobalResource], resource),
                    name,
                    body,
                    patch_type=PatchType.APPLY,
                    field_manager=field_manager,
                    force=force,
                    dry_run=dry_run,
                )
        return _plain(applied, api_version, kind)

    async def delete_object(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
    ) -> bool:
        """DELETE an object of any kind, its dependents collected in the background as
        `kubectl delete` does; False when it did not exist."""
        where = f"{api_version} {kind} {namespace + '/' if namespace else ''}{name}"
        _check_name(name, "name", f"delete {where}")
        if namespace is not None:
            _check_name(namespace, "namespace", f"delete {where}")
        resource, info = await self._resource(api_version, kind, "delete", f"delete {where}")
        if info.namespaced and namespace is None:
            # Unlike apply (a manifest's namespace defaults), a delete must never guess.
            raise KubeError(f"delete {where}: {kind} is namespaced, a namespace is required")
        try:
            with _api_errors("delete", where):
                if issubclass(resource, GenericNamespacedResource):
                    await self._client.delete(
                        resource,
                        name,
                        namespace=namespace,
                        cascade=CascadeType.BACKGROUND,
                        dry_run=dry_run,
                    )
                else:
                    await self._client.delete(
                        cast(type[GlobalResource], resource),
                        name,
                        cascade=CascadeType.BACKGROUND,
                        dry_run=dry_run,
                    )
        except KubeNotFound:
            return False
        return True

    async def _resource(
        self, api_version: str, kind: str, verb: str, where: str
    ) -> tuple[type[GenericNamespacedResource] | type[GenericGlobalResource], _KindInfo]:
        """The generic resource class for a kind, from (cached) API discovery."""
        group, version = _split_api_version(api_version)
        info = await self._kind_info(api_version, kind, where)
        if info.verbs and verb not in info.verbs:  # an old server may leave verbs out
            raise KubeError(f"{where}: the API server does not allow {verb} on {info.plural}")
        return _generic_resource(group, version, kind, info), info

    async def _kind_info(self, api_version: str, kind: str, where: str) -> _KindInfo:
        """Plural and scope of a kind; discovery is fetched once per group version, and again
        (at most every `discovery_retry` seconds) when a kind is missing."""
        async with self._discovery_lock:
            served = self._discovery.get(api_version)
            stale = served is not None and (
                time.monotonic() - served.fetched_at >= self._discovery_retry
            )
            if served is None or (kind not in served.kinds and stale):
                served = await self._discover(api_version)
                self._discovery[api_version] = served
        info = served.kinds.get(kind)
        if info is None:
            raise KubeKindNotServed(f"{where}: unknown kind {kind} in {api_version} (not served)")
        return info

    async def _discover(self, api_version: str) -> _GroupVersion:
        """GET the group version's discovery document (an unserved group has no kinds)."""
        group, version = _split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        with _api_errors("discover", api_version):
            response = await self._http().get(path)
            if response.status_code == 404:
                return _GroupVersion(kinds={}, fetched_at=time.monotonic())
            response.raise_for_status()
            document = response.json()
        return _GroupVersion(kinds=_kinds_of(document), fetched_at=time.monotonic())

    def _http(self) -> httpx.AsyncClient:
        """lightkube's own httpx session (server URL, TLS and credentials already set up)."""
        # lightkube has no public call for raw paths: AsyncClient._client is its generic
        # client, whose _client is the httpx.AsyncClient (so in lightkube 0.22; checked here).
        http = getattr(getattr(self._client, "_client", None), "_client", None)
        if not isinstance(http, httpx.AsyncClient):
            raise KubeError("this lightkube version hides its HTTP session; cannot discover kinds")
        return http

    async def aclose(self) -> None:
        """Close the lightkube client and its connection pool."""
        await self._client.aclose()

    @staticmethod
    def _scale_resource(verb: str, ref: ObjectRef) -> type[NamespacedSubResource]:
        scale_cls = _SCALES.get(ref.kind)
        if scale_cls is None:
            raise KubeError(f"{verb} {ref}: a {ref.kind} has no scale subresource")
        return scale_cls

    @staticmethod
    def _pick_revision(
        ref: ObjectRef,
        deployment: apps_v1.Deployment,
        history: Mapping[int, apps_v1.ReplicaSet],
        to_revision: int | None,
    ) -> int:
        """The explicit revision, or the highest one below the Deployment's current one."""
        if to_revision:  # kubectl treats --to-revision=0 as "the previous one"
            if to_revision not in history:
                raise KubeError(f"undo {ref}: revision {to_revision} not found in its history")
            return to_revision
        current = _revision(deployment.metadata.annotations if deployment.metadata else None)
        if current is None:
            # Without the annotation the newest ReplicaSet is the current one (kubectl's view).
            current = max(history, default=0)
        older = [revision for revision in history if revision < current]
        if not older:
            raise KubeError(f"undo {ref}: no previous revision to roll back to")
        return max(older)

    @staticmethod
    def _undo_annotations(deployment: apps_v1.Deployment, rs: apps_v1.ReplicaSet) -> dict[str, str]:
        """kubectl's annotation rule: bookkeeping from the Deployment, the rest from the RS."""
        current = (deployment.metadata.annotations if deployment.metadata else None) or {}
        source = (rs.metadata.annotations if rs.metadata else None) or {}
        annotations = {k: v for k, v in current.items() if k in _UNDO_KEEP_ANNOTATIONS}
        annotations.update({k: v for k, v in source.items() if k not in _UNDO_KEEP_ANNOTATIONS})
        return annotations


def _single(config: KubeConfig, context: str | None) -> KubeConfig | SingleConfig:
    """The kubeconfig's named context, or the whole file (its current-context) when None."""
    if context is None:
        return config
    single = config.get(context)
    if single is None:  # only when no context is set and no default is given
        raise ValueError(f"kubeconfig has no context {context!r}")
    return single

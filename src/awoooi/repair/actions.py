"""The fixed catalog of repair actions: typed parameters checked at load, one runner each.

Nothing here runs a shell, and nothing here is written by a language model: a playbook names
an action and gives parameters; the parameters are validated when the playbook is loaded and
again after the incident's values are substituted in, just before the action runs.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Generic, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from awoooi.adapters.kube import WORKLOAD_KINDS, KubeClient, KubeError, ObjectRef
from awoooi.core.db import utcnow
from awoooi.repair.settings import RepairSettings

# A placeholder such as ${namespace}, ${service} or ${labels.pod}; resolved from the incident.
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_RESPONSE_DETAIL = 300
# RFC 9110's safe methods among the ones offered: they only read, so running one again is harmless.
SAFE_HTTP_METHODS = frozenset({"GET", "HEAD"})


class ActionFailed(Exception):
    """An action ran and did not do what it should; the message says why."""


def has_placeholder(value: str) -> bool:
    """True when the text still holds a ${...} placeholder."""
    return PLACEHOLDER.search(value) is not None


def check_object_name(value: str, what: str) -> str:
    """A Kubernetes object name (DNS subdomain, <= 253 chars) or a ValueError."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a valid Kubernetes name")
    return value


def check_namespace(value: str) -> str:
    """A Kubernetes namespace (DNS label, <= 63 chars) or a ValueError."""
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(f"namespace {value!r} is not a valid Kubernetes namespace")
    return value


def _settings(info: ValidationInfo) -> RepairSettings:
    context = info.context or {}
    settings = context.get("settings")
    return settings if isinstance(settings, RepairSettings) else RepairSettings()


class Params(BaseModel):
    """Base of every action's parameters: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """An action that acts on the playbook's target and takes nothing else."""


class ScaleParams(Params):
    """`kube.scale`: an absolute `replicas` or a `delta`, always inside [min, max]."""

    replicas: int | None = Field(None, ge=0)
    delta: int | None = None
    min_replicas: int = Field(1, ge=0)
    max_replicas: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self, info: ValidationInfo) -> ScaleParams:
        ceiling = _settings(info).max_replicas
        if (self.replicas is None) == (self.delta is None):
            raise ValueError("give exactly one of replicas or delta")
        upper = self.max_replicas if self.max_replicas is not None else ceiling
        if upper > ceiling:
            raise ValueError(f"max_replicas {upper} is above repair.max_replicas ({ceiling})")
        if self.min_replicas > upper:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {upper}")
        if self.replicas is not None and not self.min_replicas <= self.replicas <= upper:
            raise ValueError(f"replicas {self.replicas} is outside [{self.min_replicas}, {upper}]")
        if self.delta is not None and (self.delta == 0 or abs(self.delta) > upper):
            raise ValueError(f"delta {self.delta} must be non-zero and at most {upper} in size")
        return self

    def upper(self, settings: RepairSettings) -> int:
        """The effective ceiling."""
        return self.max_replicas if self.max_replicas is not None else settings.max_replicas


class UndoParams(Params):
    """`kube.rollout_undo`: the previous revision, or an explicit one."""

    to_revision: int | None = Field(None, ge=1)


class DeletePodParams(Params):
    """`kube.delete_pod`: which pod (usually the alert's `pod` label)."""

    pod: str = Field("${labels.pod}", min_length=1, max_length=253)
    grace_period_seconds: int | None = Field(None, ge=0, le=3600)

    @field_validator("pod")
    @classmethod
    def _pod_name(cls, value: str) -> str:
        return value if has_placeholder(value) else check_object_name(value, "pod")


def _leaf_paths(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaf_paths(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for item in value:
            yield from _leaf_paths(item, f"{prefix}[]")
    else:
        yield prefix


def _directives(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).startswith("$"):
                yield str(key)
            yield from _directives(item)
    elif isinstance(value, list):
        for item in value:
            yield from _directives(item)


def disallowed_patch_paths(patch: Mapping[str, Any], allowed: list[str]) -> list[str]:
    """The leaf paths of a patch that no allow-list pattern covers."""
    # fnmatch treats "[...]" as a character class; list items are spelled "[]" in both.
    patterns = [pattern.replace("[]", "#") for pattern in allowed]
    refused = []
    for path in _leaf_paths(dict(patch), ""):
        if not any(fnmatchcase(path.replace("[]", "#"), pattern) for pattern in patterns):
            refused.append(path)
    return refused


class PatchParams(Params):
    """`kube.patch`: a strategic-merge patch touching only allow-listed fields."""

    patch: dict[str, Any] = Field(min_length=1)

    @field_validator("patch")
    @classmethod
    def _allowed(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        directives = sorted(set(_directives(value)))
        if directives:
            raise ValueError(f"patch directives are not allowed: {', '.join(directives)}")
        refused = disallowed_patch_paths(value, _settings(info).patch_allowed_fields)
        if refused:
            raise ValueError(
                "fields outside repair.patch_allowed_fields: " + ", ".join(sorted(set(refused)))
            )
        return value


def host_allowed(url: str, allowed: list[str]) -> bool:
    """True when the URL's host (or host:port) is in the allow-list."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    default_port = 443 if parts.scheme == "https" else 80
    with_port = f"{host}:{port or default_port}"
    entries = {entry.lower().strip("[]") for entry in allowed}
    return host in entries or with_port in {entry.lower() for entry in allowed}


class HttpParams(Params):
    """`http.request`: one HTTP call to an allow-listed host, judged by its status."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(min_length=8, max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict, max_length=50)
    body: str | dict[str, Any] | list[Any] | None = None
    expect_status: list[int] = Field(default_factory=list, max_length=50)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @field_validator("url")
    @classmethod
    def _allowed_host(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"}:
            raise ValueError("url must be http:// or https://")
        if has_placeholder(parts.netloc):
            raise ValueError("the url's host must be written out, not a ${...} placeholder")
        if parts.username or parts.password:
            raise ValueError("credentials in the url are not allowed; use headers")
        allowed = _settings(info).http_allowed_hosts
        if not host_allowed(value, allowed):
            raise ValueError(
                f"host {parts.netloc!r} is not in repair.http_allowed_hosts "
                f"({', '.join(allowed) or 'empty'})"
            )
        return value

    def accepts(self, status: int) -> bool:
        """Whether the response status counts as success."""
        return status in self.expect_status if self.expect_status else 200 <= status < 300

    def changes_something(self) -> bool:
        """Whether the request may change the server's state (any method but GET and HEAD)."""
        return self.method not in SAFE_HTTP_METHODS


class WaitParams(Params):
    """`wait`: pause between steps."""

    seconds: float = Field(gt=0, le=3600)


@dataclass
class ActionContext:
    """What a running action may use: the cluster, an HTTP client, policy, the target."""

    kube: KubeClient | None
    http: httpx.AsyncClient
    settings: RepairSettings
    target: ObjectRef | None
    now: Callable[[], datetime] = utcnow

    def cluster(self) -> KubeClient:
        """The Kubernetes client, or a failure saying none is configured."""
        if self.kube is None:
            raise ActionFailed("no Kubernetes cluster is configured (see the `kube` settings)")
        return self.kube

    def workload(self) -> ObjectRef:
        """The playbook's target, or a failure saying it has none."""
        if self.target is None:
            raise ActionFailed("this action needs the playbook's target, which it has none of")
        return self.target


P = TypeVar("P", bound=Params)


class KubePermission(NamedTuple):
    """One RBAC grant an action needs, as a ClusterRole rule spells it."""

    api_group: str
    resource: str
    verb: str


def grants(api_group: str, resources: tuple[str, ...], *verbs: str) -> frozenset[KubePermission]:
    """Every (resource, verb) pair of one API group as permissions."""
    return frozenset(KubePermission(api_group, r, v) for r in resources for v in verbs)


@dataclass(frozen=True)
class Action(Generic[P]):
    """One catalog entry: its parameter model, what it does, and whether that changes anything.

    `side_effects` is True (it changes something), False (it only reads or waits), or a function
    of the parameters when that depends on them (an HTTP method). A step without side effects
    interrupted by a restart runs again; one with side effects is never repeated blindly.
    """

    name: str
    params: type[P]
    run: Callable[[P, ActionContext], Awaitable[str]]
    needs_target: bool = False
    side_effects: bool | Callable[[P], bool] = True
    # What the kube adapter calls for it need; deploy/kustomize/components/repair grants the union.
    permissions: frozenset[KubePermission] = frozenset()

    def has_side_effects(self, params: P) -> bool:
        """Whether running the action with these parameters may change something."""
        if callable(self.side_effects):
            return self.side_effects(params)
        return self.side_effects


async def _restart(_params: NoParams, ctx: ActionContext) -> str:
    target = ctx.workload()
    if target.kind == "ReplicaSet":
        raise ActionFailed("a ReplicaSet cannot be restarted; target its Deployment")
    await ctx.cluster().rollout_restart(target, at=ctx.now())
    return f"restarted {target}"


async def _scale(params: ScaleParams, ctx: ActionContext) -> str:
    target = ctx.workload()
    if target.kind == "DaemonSet":
        raise ActionFailed("a DaemonSet has no replicas to scale")
    kube = ctx.cluster()
    current = await kube.get_replicas(target)
    upper = params.upper(ctx.settings)
    wanted = params.replicas if params.replicas is not None else current + (params.delta or 0)
    desired = max(params.min_replicas, min(upper, wanted))
    if desired == current:
        raise ActionFailed(
            f"{target} already has {current} replicas; bounds [{params.min_replicas}, {upper}]"
        )
    await kube.scale(target, desired)
    return f"scaled {target} from {current} to {desired} replicas"


async def _undo(params: UndoParams, ctx: ActionContext) -> str:
    target = ctx.workload()
    if target.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        raise ActionFailed("rollout undo works on Deployments, StatefulSets and DaemonSets")
    revision = await ctx.cluster().rollout_undo(target, to_revision=params.to_revision)
    return f"rolled {target} back to revision {revision}"


async def _delete_pod(params: DeletePodParams, ctx: ActionContext) -> str:
    namespace = ctx.workload().namespace
    await ctx.cluster().delete_pod(
        namespace, params.pod, grace_period_seconds=params.grace_period_seconds
    )
    return f"deleted pod {namespace}/{params.pod}"


async def _patch(params: PatchParams, ctx: ActionContext) -> str:
    target = ctx.workload()
    await ctx.cluster().patch(target, params.patch)
    fields = sorted(set(_leaf_paths(params.patch, "")))
    return f"patched {target}: {', '.join(fields)}"


async def _http(params: HttpParams, ctx: ActionContext) -> str:
    # Checked again after substitution: a placeholder in the path must not change the host.
    if not host_allowed(params.url, ctx.settings.http_allowed_hosts):
        raise ActionFailed(f"host of {params.url!r} is not allowed")
    content: bytes | None = None
    headers = dict(params.headers)
    if isinstance(params.body, str):
        content = params.body.encode()
    elif params.body is not None:
        content = json.dumps(params.body).encode()
        headers.setdefault("content-type", "application/json")
    try:
        response = await ctx.http.request(
            params.method, params.url, headers=headers, content=content
        )
    except httpx.HTTPError as exc:
        raise ActionFailed(
            f"{params.method} {params.url} failed: {type(exc).__name__}: {exc}"
        ) from exc
    snippet = response.text[:MAX_RESPONSE_DETAIL]
    outcome = f"{params.method} {params.url} -> {response.status_code}"
    if not params.accepts(response.status_code):
        expected = params.expect_status or "2xx"
        raise ActionFailed(f"{outcome}, expected {expected}: {snippet}")
    return f"{outcome}: {snippet}" if snippet else outcome


async def _wait(params: WaitParams, _ctx: ActionContext) -> str:
    await asyncio.sleep(params.seconds)
    return f"waited {params.seconds:g} s"


_ROLLOUT_KINDS = ("deployments", "statefulsets", "daemonsets")

CATALOG: dict[str, Action[Any]] = {
    action.name: action
    for action in (
        Action(
            "kube.rollout_restart",
            NoParams,
            _restart,
            needs_target=True,
            side_effects=True,
            permissions=grants("apps", _ROLLOUT_KINDS, "patch"),
        ),
        Action(
            "kube.scale",
            ScaleParams,
            _scale,
            needs_target=True,
            side_effects=True,
            permissions=grants(
                "apps",
                ("deployments/scale", "statefulsets/scale", "replicasets/scale"),
                "get",
                "patch",
            ),
        ),
        Action(
            "kube.rollout_undo",
            UndoParams,
            _undo,
            needs_target=True,
            side_effects=True,
            # A Deployment from its ReplicaSets, a StatefulSet or DaemonSet from its
            # ControllerRevisions: read the workload and its history, patch the template back.
            permissions=grants("apps", _ROLLOUT_KINDS, "get", "patch")
            | grants("apps", ("replicasets", "controllerrevisions"), "list"),
        ),
        Action(
            "kube.delete_pod",
            DeletePodParams,
            _delete_pod,
            needs_target=True,
            side_effects=True,
            permissions=grants("", ("pods",), "delete"),
        ),
        Action(
            "kube.patch",
            PatchParams,
            _patch,
            needs_target=True,
            side_effects=True,
            permissions=grants("apps", (*_ROLLOUT_KINDS, "replicasets"), "patch"),
        ),
        Action("http.request", HttpParams, _http, side_effects=HttpParams.changes_something),
        Action("wait", WaitParams, _wait, side_effects=False),
    )
}


def required_permissions() -> frozenset[KubePermission]:
    """Every Kubernetes permission the catalog's actions may use."""
    return frozenset().union(*(action.permissions for action in CATALOG.values()))


def validate_params(action: str, params: Mapping[str, Any], settings: RepairSettings) -> Params:
    """The action's typed parameters, or a ValueError / ValidationError saying what is wrong."""
    entry = CATALOG.get(action)
    if entry is None:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(CATALOG))}")
    typed: Params = entry.params.model_validate(dict(params), context={"settings": settings})
    return typed


def has_side_effects(action: str, params: Params) -> bool:
    """Whether a validated step may change something (so a restart must not repeat it)."""
    return bool(CATALOG[action].has_side_effects(params))


async def run_action(action: str, params: Params, ctx: ActionContext) -> str:
    """Run one validated action; a Kubernetes error becomes the step's failure."""
    entry = CATALOG[action]
    try:
        return await entry.run(params, ctx)
    except KubeError as exc:
        raise ActionFailed(f"{action}: {exc.detail}") from exc


def workload_kind(value: str) -> str:
    """A kind a repair may target, or a ValueError."""
    if value not in WORKLOAD_KINDS:
        raise ValueError(f"kind {value!r} is not one of {', '.join(WORKLOAD_KINDS)}")
    return value

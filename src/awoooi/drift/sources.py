"""Where a drift scan reads from: the desired state (a directory or Git) and the live state (a
dump or the cluster)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from awoooi.adapters.git import GitClient, GitError, display_url
from awoooi.adapters.kube import ClusterReader, KubeError
from awoooi.core.errors import AwoooiError
from awoooi.drift.manifests import Manifest, load_directory
from awoooi.drift.report import ResourceId, ScanProblem
from awoooi.drift.settings import DriftSettings
from awoooi.drift.settings import is_git_url as is_git_url  # adopt asks this module

AUTOSCALER_KIND = "HorizontalPodAutoscaler"


class DriftSourceError(AwoooiError):
    """A desired or live source cannot be read at all (bad path, unreachable Git or cluster)."""

    status_code = 422
    code = "drift_source_error"


@dataclass
class DesiredState:
    """The manifests from Git, where they came from, and what could not be read."""

    manifests: list[Manifest]
    problems: list[ScanProblem]
    source: str
    revision: str | None = None


def _inside(root: Path, sub_path: str | None, shown: str) -> Path:
    if not sub_path:
        return root
    target = (root / sub_path).resolve()
    if not target.is_relative_to(root.resolve()):
        raise DriftSourceError(f"--path {sub_path!r} leaves the repository")
    if not target.exists():
        raise DriftSourceError(f"--path {sub_path!r} does not exist in {shown}")
    return target


def _repository_root(directory: Path) -> Path:
    """The Git work tree a local directory is in (its kustomizations may read all of it), else
    the directory itself."""
    resolved = directory.resolve()
    return next(
        (parent for parent in (resolved, *resolved.parents) if (parent / ".git").exists()),
        resolved,
    )


async def load_desired(
    desired: str,
    *,
    git: GitClient,
    ref: str | None = None,
    sub_path: str | None = None,
    settings: DriftSettings,
    cache_dir: Path,
) -> DesiredState:
    """Read the desired state: a local directory or file, or a Git URL (cloned into a cache)."""
    local = Path(desired)
    revision = None
    shown = display_url(desired)
    exists, is_dir = await asyncio.to_thread(lambda: (local.exists(), local.is_dir()))
    if exists and ref is None:
        root = local
        repository = await asyncio.to_thread(_repository_root, local) if is_dir else local
    elif is_dir or is_git_url(desired):
        try:
            checked = await git.checkout(
                desired, ref, cache_dir, timeout=settings.git_timeout_seconds
            )
        except GitError as exc:
            # git's messages may name the checkout: the cache is the server's business.
            raise DriftSourceError(exc.detail.replace(str(cache_dir), "<git cache>")) from exc
        root, revision = checked.path, checked.commit
        repository = root
    else:
        raise DriftSourceError(f"--desired {shown!r} is neither a directory nor a Git URL")
    base = await asyncio.to_thread(_inside, root, sub_path, shown)
    manifests, problems = await load_directory(
        base,
        max_bytes=settings.max_file_bytes,
        max_nodes=settings.max_yaml_nodes,
        kustomize_seconds=settings.kustomize_timeout_seconds,
        repository=repository,
        allow_remote=settings.kustomize_allow_remote,
    )
    return DesiredState(manifests, problems, desired, revision)


class LiveState(Protocol):
    """Where live objects come from."""

    label: str

    async def get(self, resource: ResourceId) -> dict[str, Any] | None:
        """The live counterpart of a desired object, or None when it does not exist."""
        ...

    async def tracked(
        self, kinds: Iterable[tuple[str, str]], selector: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """Live objects of these (apiVersion, kind)s carrying the tracking label."""
        ...

    async def autoscalers(self) -> list[dict[str, Any]]:
        """Every live HorizontalPodAutoscaler (Git need not hold them to own `replicas`)."""
        ...


def _labelled(obj: dict[str, Any], selector: tuple[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, dict) and labels.get(selector[0]) == selector[1]


@dataclass
class DumpState:
    """Live state from `kubectl get -A -o yaml` output files (objects or `kind: List`)."""

    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    problems: list[ScanProblem] = field(default_factory=list)
    label: str = "dump"

    @classmethod
    async def load(cls, directory: Path, settings: DriftSettings) -> DumpState:
        """Read every object in the dump directory (or file)."""
        if not await asyncio.to_thread(directory.exists):
            raise DriftSourceError(f"--live-dump {str(directory)!r} does not exist")
        manifests, problems = await load_directory(
            directory,
            max_bytes=settings.max_file_bytes,
            max_nodes=settings.max_yaml_nodes,
            render=False,
        )
        state = cls(problems=problems, label=f"dump:{directory}")
        for manifest in manifests:
            state.objects[manifest.resource.key()] = manifest.obj
        return state

    async def get(self, resource: ResourceId) -> dict[str, Any] | None:
        """Look up by group, kind, namespace and name (any version of the group)."""
        group, kind, namespace, name = resource.key()
        found = self.objects.get((group, kind, namespace, name))
        if found is None and not namespace:
            # A namespaced kind written without a namespace lands in "default".
            found = self.objects.get((group, kind, "default", name))
        if found is None and namespace:
            # A cluster-scoped kind written with a namespace (it is ignored by the server).
            candidate = self.objects.get((group, kind, "", name))
            if candidate is not None:
                found = candidate
        return found

    async def tracked(
        self, kinds: Iterable[tuple[str, str]], selector: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """Dump objects of the kinds, with the tracking label."""
        wanted = {(api_version.rpartition("/")[0], kind) for api_version, kind in kinds}
        return [
            obj
            for (group, kind, _ns, _name), obj in self.objects.items()
            if (group, kind) in wanted and _labelled(obj, selector)
        ]

    async def autoscalers(self) -> list[dict[str, Any]]:
        """The dump's HorizontalPodAutoscalers."""
        return [
            obj
            for (group, kind, _ns, _name), obj in self.objects.items()
            if (group, kind) == ("autoscaling", AUTOSCALER_KIND)
        ]


@dataclass
class ClusterState:
    """Live state read from the cluster through the kube adapter."""

    reader: ClusterReader
    label: str = "cluster"

    async def get(self, resource: ResourceId) -> dict[str, Any] | None:
        """GET the object (cluster-scoped kinds ignore the namespace)."""
        # A manifest without a namespace lands in "default", as with `kubectl apply`; the
        # adapter ignores the namespace for cluster-scoped kinds.
        namespace = resource.namespace or "default"
        try:
            return await self.reader.get_object(
                resource.api_version, resource.kind, namespace, resource.name
            )
        except KubeError as exc:
            raise DriftSourceError(f"cannot read {resource}: {exc.detail}") from exc

    async def tracked(
        self, kinds: Iterable[tuple[str, str]], selector: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """LIST each kind with the tracking label."""
        found: list[dict[str, Any]] = []
        for api_version, kind in sorted(set(kinds)):
            try:
                found.extend(
                    await self.reader.list_objects(
                        api_version, kind, label_selector=f"{selector[0]}={selector[1]}"
                    )
                )
            except KubeError as exc:
                raise DriftSourceError(f"cannot list {kind}: {exc.detail}") from exc
        return found

    async def autoscalers(self) -> list[dict[str, Any]]:
        """LIST HorizontalPodAutoscalers; none when they cannot be read (replicas are then
        compared as any other field, as before)."""
        try:
            return await self.reader.list_objects("autoscaling/v2", AUTOSCALER_KIND)
        except KubeError:
            return []


@dataclass(frozen=True)
class ScanSources:
    """What a scan reads, kept with its report so rollback and adopt read the same places."""

    desired: str
    ref: str | None = None
    path: str | None = None
    live_dump: str | None = None
    live_context: str | None = None

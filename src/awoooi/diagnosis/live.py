"""The live cluster as a `ClusterSource`: objects through the kube adapter's `ClusterReader`,
container logs through its `LogReader` — never through a client library directly.

A `KubeSource` is one snapshot: each list and each object is read once, then held, so one
investigation sees one cluster and a collector asking twice costs no request. Make a new one per
investigation. Secrets and ConfigMaps are cut to their key names (`keys_only`) the moment the
adapter hands them over, before anything is held or returned; `managedFields` is dropped as
`kubectl get` does. Like `DumpSource` it is bounded: lists by item count, logs by lines and bytes.
"""

from __future__ import annotations

import io
from typing import Any

from awoooi.adapters.kube import ClusterReader, KubeError, KubeKindNotServed, LogReader
from awoooi.core.logging import get_logger
from awoooi.diagnosis.errors import DiagnosisInputError
from awoooi.diagnosis.kinds import kind_info
from awoooi.diagnosis.source import (
    DEFAULT_LOG_BYTES,
    DEFAULT_LOG_LINES,
    bounded_tail,
    is_object_name,
    keys_only,
)

JSON = dict[str, Any]
# Objects per list; a larger list is refused rather than read into memory (or silently cut,
# which would turn "not listed" into "does not exist").
MAX_LIST_ITEMS = 50_000
# Bytes per log request: the server cuts a log after limitBytes from the *start* of the tail, so
# the tail is asked with fewer lines until it fits (see `read_log`).
MAX_LOG_FETCH_BYTES = 4 * 1024 * 1024
_KEYS_ONLY = frozenset({"Secret", "ConfigMap"})

log = get_logger(__name__)


class SourceLimitExceeded(DiagnosisInputError):
    """A list holds more objects than the live source reads."""

    code = "cluster_source_limit"


def _clean(obj: JSON) -> JSON:
    """The object as the diagnosis may see it: Secret and ConfigMap values dropped first,
    managedFields gone."""
    if obj.get("kind") in _KEYS_ONLY:
        obj = keys_only(obj)
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    return obj


def _name_of(obj: JSON) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


class KubeSource:
    """A `ClusterSource` over the kube adapter (a live cluster, read-only)."""

    def __init__(
        self,
        reader: ClusterReader,
        logs: LogReader,
        *,
        max_list_items: int = MAX_LIST_ITEMS,
        max_log_fetch_bytes: int = MAX_LOG_FETCH_BYTES,
        cache: bool = True,
    ) -> None:
        """Read through `reader` and `logs` (usually one `LightkubeClient`); `cache=False`
        holds nothing (a dump streams the cluster once)."""
        self._reader = reader
        self._logs = logs
        self._max_list_items = max_list_items
        self._max_log_fetch_bytes = max_log_fetch_bytes
        self._cache = cache
        # (kind, namespace or None for all) -> objects; and -> {(namespace, name): object}.
        self._lists: dict[tuple[str, str | None], list[JSON]] = {}
        self._indexes: dict[tuple[str, str | None], dict[tuple[str, str], JSON]] = {}
        self._objects: dict[tuple[str, str, str], JSON | None] = {}

    async def list_objects(self, kind: str, namespace: str | None = None) -> list[JSON]:
        """Every object of the kind in a namespace (all when None), with kind and apiVersion."""
        info = kind_info(kind)
        space = namespace if info.namespaced else None
        if space is not None:
            _check_name(space, "namespace")
        cached = self._lists.get((kind, space))
        if cached is not None:
            return list(cached)
        try:
            raw = await self._reader.list_objects(
                info.api_version, kind, namespace=space, limit=self._max_list_items + 1
            )
        except KubeKindNotServed:
            raw = []  # an API the cluster does not have holds no objects
        if len(raw) > self._max_list_items:
            where = f" in {space}" if space else " in all namespaces"
            raise SourceLimitExceeded(
                f"more than {self._max_list_items} {kind} objects{where}: the live source "
                "reads at most that many per list (narrow it to a namespace)"
            )
        found = [_clean(obj) for obj in raw]
        if self._cache:
            self._lists[(kind, space)] = found
        return list(found)

    async def get_object(self, kind: str, namespace: str | None, name: str) -> JSON | None:
        """One object, or None when it does not exist (or the kind is not served)."""
        info = kind_info(kind)
        if not is_object_name(name):
            return None
        if info.namespaced and not namespace:
            return None
        space = namespace if info.namespaced else None
        if space is not None:
            _check_name(space, "namespace")
        listed = self._listed(kind, space)
        if listed is not None:
            return listed.get((space or "", name))
        key = (kind, space or "", name)
        if key in self._objects:
            return self._objects[key]
        try:
            obj = await self._reader.get_object(info.api_version, kind, space, name)
        except KubeKindNotServed:
            obj = None
        found = _clean(obj) if obj is not None else None
        if self._cache:
            self._objects[key] = found
        return found

    async def read_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool = False,
        max_lines: int = DEFAULT_LOG_LINES,
        max_bytes: int = DEFAULT_LOG_BYTES,
    ) -> str | None:
        """The bounded tail of a container's log (`previous`: the run before), or None."""
        for value, what in ((namespace, "namespace"), (pod, "pod"), (container, "container")):
            _check_name(value, what)
        lines = max(1, max_lines)
        # At most this many bytes are transferred, whatever the lines hold.
        fetch = max(self._max_log_fetch_bytes, 1)
        while True:
            try:
                text = await self._logs.read_log(
                    namespace,
                    pod,
                    container,
                    previous=previous,
                    tail_lines=lines,
                    limit_bytes=fetch,
                )
            except KubeError as exc:
                if exc.status is None or exc.status < 500:
                    raise  # unreachable, forbidden: the user must know
                # The kubelet behind the API server did not answer (a node going down): the
                # investigation goes on without this log rather than failing as a whole.
                log.warning("container log unavailable", pod=f"{namespace}/{pod}", error=str(exc))
                return None
            if text is None:
                return None
            # limitBytes keeps the *start* of the tail: a full answer may lack the newest lines,
            # so ask for fewer lines until the tail fits (one line: its start is all there is).
            if len(text.encode("utf-8", "replace")) < fetch or lines == 1:
                break
            lines = max(1, lines // 2)
        stream = io.StringIO(text, newline="")  # split lines as DumpSource reads a file
        return bounded_tail(stream, lines, max_bytes)

    def _listed(self, kind: str, namespace: str | None) -> dict[tuple[str, str], JSON] | None:
        """The index of an already read list that holds (kind, namespace), if any."""
        for key in ((kind, namespace), (kind, None)):
            index = self._indexes.get(key)
            if index is None and key in self._lists:
                index = self._indexes[key] = {_name_of(obj): obj for obj in self._lists[key]}
            if index is not None:
                return index
        return None


def _check_name(value: str, what: str) -> None:
    if not is_object_name(value):
        raise DiagnosisInputError(f"invalid {what} {value[:80]!r}: not a Kubernetes object name")

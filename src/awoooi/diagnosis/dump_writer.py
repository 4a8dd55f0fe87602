"""`awoooi cluster dump`: what a diagnosis reads, written in the layout `DumpSource` reads —
`kubectl cluster-info dump`'s (`nodes.json`, `<ns>/<plural>.json` v1 Lists whose items carry no
kind/apiVersion, `<ns>/<pod>/logs.txt` with START/END blocks) plus awoooi's extra Lists and
`<ns>/<pod>/logs-<container>-previous.txt`. Secrets and ConfigMaps keep key names only; logs are
bounded tails. A bug report can carry it, and `awoooi diagnose --cluster-dump` replays it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import awoooi
from awoooi.diagnosis import dump_files
from awoooi.diagnosis.kinds import kind_info
from awoooi.diagnosis.source import ClusterSource, is_object_name, keys_only

JSON = dict[str, Any]
# kubectl cluster-info dump's Lists, then the ones the collectors read beyond them.
NAMESPACED_KINDS: tuple[str, ...] = (
    "Event",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "Service",
    "DaemonSet",
    "ReplicationController",
    "StatefulSet",
    "ControllerRevision",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PersistentVolumeClaim",
    "ResourceQuota",
    "ConfigMap",
    "Secret",
)
# Bounds per container log: far more than a diagnosis reads (400 lines, 96 kB), so a dump
# replays the same investigation, yet a chatty pod cannot fill the disk.
DUMP_LOG_LINES = 2_000
DUMP_LOG_BYTES = 1024 * 1024
# Pods whose logs are read at once (each read is a kubelet round trip behind the API server).
LOG_CONCURRENCY = 8
# Events about nodes are recorded in this namespace (they are cluster-scoped).
NODE_EVENTS_NAMESPACE = "default"


@dataclass
class DumpSummary:
    """What a dump wrote."""

    directory: Path
    namespaces: list[str] = field(default_factory=list)
    objects: int = 0
    logs: int = 0
    skipped: list[str] = field(default_factory=list)


def _namespace_of(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _list_document(kind: str, items: Iterable[JSON]) -> JSON:
    """A v1 List as `kubectl cluster-info dump` writes it: the items without kind/apiVersion."""
    clean = []
    for item in items:
        if item.get("kind") in {"Secret", "ConfigMap"}:
            item = keys_only(item)  # again: whatever the source, no value is written
        clean.append({k: v for k, v in item.items() if k not in {"kind", "apiVersion"}})
    return {
        "kind": f"{kind}List",
        "apiVersion": kind_info(kind).api_version,
        "metadata": {},
        "items": clean,
    }


def _containers(pod: JSON) -> list[tuple[str, bool]]:
    """(container, ran before) for the pod's init and app containers."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    restarted = {
        str(s.get("name")): bool(
            s.get("restartCount") or (s.get("lastState") or {}).get("terminated")
        )
        for group in ("initContainerStatuses", "containerStatuses")
        for s in status.get(group) or []
    }
    names = [
        str(c.get("name") or "")
        for group in ("initContainers", "containers")
        for c in spec.get(group) or []
    ]
    return [(name, restarted.get(name, False)) for name in names if name]


def _block(namespace: str, pod: str, container: str, text: str) -> str:
    ref = f"container {container} of pod {namespace}/{pod}"
    body = text if not text or text.endswith("\n") else text + "\n"
    return f"==== START logs for {ref} ====\n{body}==== END logs for {ref} ====\n"


class _Writer:
    """One dump in progress: the staging root, the bounds and the tally."""

    def __init__(
        self, source: ClusterSource, root: Path, summary: DumpSummary, lines: int, size: int
    ) -> None:
        self.source = source
        self.root = root
        self.summary = summary
        self.lines = lines
        self.size = size
        self.written: set[tuple[str, str]] = set()

    def write_list(self, namespace: str, kind: str, items: list[JSON]) -> None:
        if not is_object_name(namespace):
            self.summary.skipped.append(f"namespace {namespace[:80]!r}")
            return
        directory = dump_files.make_dir(self.root, namespace)
        dump_files.write_json(
            directory, f"{kind_info(kind).plural}.json", _list_document(kind, items)
        )
        self.written.add((namespace, kind))
        self.summary.objects += len(items)

    async def write_logs(self, pod: JSON) -> None:
        namespace, name = _namespace_of(pod), str((pod.get("metadata") or {}).get("name") or "")
        if not (is_object_name(namespace) and is_object_name(name)):
            self.summary.skipped.append(f"logs of pod {namespace}/{name}"[:120])
            return
        blocks: list[str] = []
        previous: list[tuple[str, str]] = []
        for container, ran_before in _containers(pod):
            if not is_object_name(container):
                self.summary.skipped.append(f"logs of {namespace}/{name} {container[:60]!r}")
                continue
            current = await self.source.read_log(
                namespace, name, container, max_lines=self.lines, max_bytes=self.size
            )
            before = None
            if ran_before:
                before = await self.source.read_log(
                    namespace, name, container, previous=True,
                    max_lines=self.lines, max_bytes=self.size,
                )  # fmt: skip
            if current is not None:
                blocks.append(_block(namespace, name, container, current))
            if before is not None:
                previous.append((container, before))
        if not blocks and not previous:
            return
        directory = dump_files.make_dir(self.root, namespace, name)
        if blocks:
            dump_files.write_text(directory, "logs.txt", "".join(blocks))
        for container, text in previous:
            body = text if not text or text.endswith("\n") else text + "\n"
            dump_files.write_text(directory, f"logs-{container}-previous.txt", body)
        self.summary.logs += len(blocks) + len(previous)


async def write_dump(
    source: ClusterSource,
    directory: Path,
    *,
    namespaces: Sequence[str] | None = None,
    log_lines: int = DUMP_LOG_LINES,
    log_bytes: int = DUMP_LOG_BYTES,
) -> DumpSummary:
    """Write the cluster (every namespace, or `namespaces`) to `directory`: new, empty, or an
    earlier awoooi dump, which is replaced whole once the new one is complete."""
    wanted = sorted(set(namespaces)) if namespaces else None
    for namespace in wanted or []:
        if not is_object_name(namespace):
            raise dump_files.DumpTargetError(f"invalid namespace {namespace[:80]!r}")
    target = dump_files.check_target(directory)
    staging = dump_files.staging_for(target)
    summary = DumpSummary(target)
    try:
        writer = _Writer(source, staging, summary, max(1, log_lines), max(1, log_bytes))
        await _write_all(writer, wanted)
        dump_files.write_json(staging, dump_files.MARKER, _marker(summary, wanted, writer))
        dump_files.swap_in(staging, target)
    except BaseException:
        dump_files.discard(staging)
        raise
    return summary


async def _write_all(writer: _Writer, wanted: list[str] | None) -> None:
    nodes = await writer.source.list_objects("Node")
    dump_files.write_json(writer.root, "nodes.json", _list_document("Node", nodes))
    writer.summary.objects += len(nodes)
    pods: list[JSON] = []
    seen: set[str] = set(wanted or [])
    for kind in NAMESPACED_KINDS:
        by_namespace: dict[str, list[JSON]] = {namespace: [] for namespace in wanted or []}
        spaces: list[str | None] = list(wanted) if wanted is not None else [None]
        for namespace in spaces:
            for obj in await writer.source.list_objects(kind, namespace):
                by_namespace.setdefault(_namespace_of(obj), []).append(obj)
        if kind == "Event" and wanted is not None and NODE_EVENTS_NAMESPACE not in wanted:
            # Node events live in "default": keep those (only those) for the node evidence.
            about_nodes = [
                e
                for e in await writer.source.list_objects("Event", NODE_EVENTS_NAMESPACE)
                if (e.get("involvedObject") or {}).get("kind") == "Node"
            ]
            if about_nodes:
                by_namespace[NODE_EVENTS_NAMESPACE] = about_nodes
        for namespace, items in by_namespace.items():
            writer.write_list(namespace, kind, items)
            seen.add(namespace)
        if kind == "Pod":
            pods = [p for items in by_namespace.values() for p in items]
    # Every dumped namespace gets every List (empty when it has none), as cluster-info dump
    # does; "default" holding only node events stays that way.
    dumped = sorted(n for n in (wanted if wanted is not None else seen) if is_object_name(n))
    for namespace in dumped:
        for kind in NAMESPACED_KINDS:
            if (namespace, kind) not in writer.written:
                writer.write_list(namespace, kind, [])
    writer.summary.namespaces = dumped
    await _write_logs(writer, pods)


async def _write_logs(writer: _Writer, pods: list[JSON]) -> None:
    """Every pod's logs, LOG_CONCURRENCY pods at a time; the first failure stops them all."""
    queue = iter(pods)

    async def work() -> None:
        for pod in queue:  # one iterator shared: each pod is taken once
            await writer.write_logs(pod)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(LOG_CONCURRENCY):
                group.create_task(work())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


def _marker(summary: DumpSummary, wanted: list[str] | None, writer: _Writer) -> JSON:
    """The marker file: who wrote the dump, when, of what, with which bounds."""
    return {
        "kind": dump_files.MARKER_KIND,
        "writtenBy": f"awoooi {awoooi.__version__}",
        "writtenAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "namespaces": wanted if wanted is not None else "all",
        "dumpedNamespaces": summary.namespaces,
        "logLines": writer.lines,
        "logBytes": writer.size,
        "secrets": "key names only (ConfigMaps too)",
    }

"""Where the diagnosis reads the cluster from: a read-only Protocol, and a `cluster-info dump`.

`DumpSource` reads the directory `kubectl cluster-info dump --output-directory DIR` writes
(`nodes.json`, `<ns>/<plural>.json` Lists, `<ns>/<pod>/logs.txt` with one block per container),
plus the extra `<ns>/<plural>.json` Lists awoooi's own dump adds and
`<ns>/<pod>/logs-<container>-previous.txt`. Secret values never leave it: a Secret's `data` keeps
its key names only, so nothing downstream can print a value by mistake.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from awoooi.diagnosis.errors import DumpError
from awoooi.diagnosis.kinds import kind_info

DEFAULT_LOG_LINES = 200
DEFAULT_LOG_BYTES = 64_000
MAX_LINE_CHARS = 2_000
# A List file larger than this is refused: a real dump of 2,000 pods and 20,000 events is ~60 MB.
MAX_LIST_BYTES = 512 * 1024 * 1024
# Only the end of a larger log file is scanned; the tail is what a diagnosis needs.
MAX_LOG_SCAN_BYTES = 64 * 1024 * 1024

# Object and container names are DNS labels/subdomains; anything else (a "/", "..") is refused
# before it becomes part of a path.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_BLOCK = re.compile(r"^==== (START|END) logs for container (\S+) of pod (\S+) ====\s*$")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@runtime_checkable
class ClusterSource(Protocol):
    """Read-only access to a cluster's objects and container logs (live API or a dump)."""

    async def list_objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of the kind in a namespace (all when None), with kind and apiVersion."""
        ...

    async def get_object(
        self, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        ...

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
        ...


def keys_only(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret (or ConfigMap) with its values dropped: key names stay, values become ""."""
    clean = dict(obj)
    for field in ("data", "stringData", "binaryData"):
        value = clean.get(field)
        if isinstance(value, dict):
            clean[field] = dict.fromkeys(value, "")
    metadata = clean.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
        # kubectl apply keeps the whole manifest, values included, in this annotation.
        annotations = {k: v for k, v in metadata["annotations"].items() if k != _LAST_APPLIED}
        clean["metadata"] = {**metadata, "annotations": annotations}
    return clean


def _bounded_lines(handle: IO[str]) -> Iterator[str]:
    """The file's lines without their newline, each cut to MAX_LINE_CHARS (a 1 GB line too)."""
    while True:
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if line.endswith("\n"):
            yield line.rstrip("\r\n")
            continue
        if len(line) <= MAX_LINE_CHARS:
            yield line  # the last line, without a newline
            return
        # Skip the rest of an overlong line in bounded chunks.
        while True:
            rest = handle.readline(MAX_LINE_CHARS)
            if not rest or rest.endswith("\n"):
                break
        yield line[:MAX_LINE_CHARS] + " …[line cut]"


def is_object_name(value: str) -> bool:
    """Whether `value` can be a Kubernetes object or container name (and so a path part)."""
    return _NAME.fullmatch(value) is not None


def bounded_tail(handle: IO[str], max_lines: int, max_bytes: int) -> str:
    """The newest `max_lines` lines of a text stream, each cut to MAX_LINE_CHARS, the oldest
    dropped whole until the rest fits `max_bytes`."""
    tail: deque[str] = deque(_bounded_lines(handle), maxlen=max(1, max_lines))
    return _tail_text(tail, max_bytes)


def _tail_text(lines: deque[str], max_bytes: int) -> str:
    """The newest lines whose UTF-8 size fits `max_bytes` (the oldest are dropped whole)."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        cost = len(line.encode("utf-8", "replace")) + 1
        if size + cost > max_bytes:
            if not kept:  # one line larger than the budget: keep its end
                kept.append(line.encode("utf-8", "replace")[-max_bytes:].decode("utf-8", "ignore"))
            break
        kept.append(line)
        size += cost
    return "\n".join(reversed(kept))


class DumpSource:
    """A `ClusterSource` over a `kubectl cluster-info dump --output-directory` directory."""

    def __init__(
        self,
        directory: Path | str,
        *,
        max_list_bytes: int = MAX_LIST_BYTES,
        max_log_scan_bytes: int = MAX_LOG_SCAN_BYTES,
    ) -> None:
        root = Path(directory)
        if not root.is_dir():
            raise DumpError(f"no cluster dump directory at {root}")
        self.root = root.resolve()
        self._max_list_bytes = max_list_bytes
        self._max_log_scan_bytes = max_log_scan_bytes
        self._lists: dict[Path, list[dict[str, Any]]] = {}
        self._indexes: dict[Path, dict[str, dict[str, Any]]] = {}

    # -- ClusterSource ------------------------------------------------------------------------

    async def list_objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of the kind (see `ClusterSource.list_objects`)."""
        info = kind_info(kind)
        if not info.namespaced:
            return list(self._load(self._path(f"{info.plural}.json"), kind))
        spaces = [namespace] if namespace is not None else self.namespaces()
        found: list[dict[str, Any]] = []
        for space in spaces:
            found.extend(self._load(self._path(space, f"{info.plural}.json"), kind))
        return found

    async def get_object(
        self, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """One object by name, or None."""
        info = kind_info(kind)
        if not _NAME.fullmatch(name):
            return None
        if info.namespaced:
            if not namespace:
                return None
            path = self._path(namespace, f"{info.plural}.json")
        else:
            path = self._path(f"{info.plural}.json")
        index = self._indexes.get(path)
        if index is None:
            index = {
                str((obj.get("metadata") or {}).get("name")): obj for obj in self._load(path, kind)
            }
            self._indexes[path] = index
        return index.get(name)

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
        """The tail of a container's log from `logs.txt` (or `logs-<c>-previous.txt`)."""
        _check_name(container, "container")
        if previous:
            path = self._path(namespace, pod, f"logs-{container}-previous.txt")
            return self._read_plain_tail(path, max_lines, max_bytes)
        return self._read_block_tail(
            self._path(namespace, pod, "logs.txt"),
            f"{namespace}/{pod}",
            container,
            max_lines,
            max_bytes,
        )

    # -- the directory ------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        """The namespaces the dump holds (one folder each)."""
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if entry.is_dir() and _NAME.fullmatch(entry.name)
        )

    def _path(self, *parts: str) -> Path:
        """A path inside the dump; names that are not object names, or symlinks that lead out
        of the root, are refused."""
        for part in parts:
            _check_name(part, "path component")
        path = self.root.joinpath(*parts)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise DumpError(f"{'/'.join(parts)} leads outside the dump directory")
        return resolved

    def _load(self, path: Path, kind: str) -> list[dict[str, Any]]:
        cached = self._lists.get(path)
        if cached is not None:
            return cached
        with _collector_paused():
            items = self._parse_list(path, kind)
        self._lists[path] = items
        return items

    def _parse_list(self, path: Path, kind: str) -> list[dict[str, Any]]:
        if not path.is_file():
            return []
        name = path.relative_to(self.root)
        size = path.stat().st_size
        if size > self._max_list_bytes:
            raise DumpError(f"{name} is {size} bytes, over the {self._max_list_bytes} byte limit")
        try:
            with path.open("rb") as handle:
                document = json.load(handle)
        except ValueError as exc:
            raise DumpError(f"{name} is not valid JSON: {exc}") from None
        except OSError as exc:
            raise DumpError(f"cannot read {name}: {exc.strerror or exc}") from None
        if isinstance(document, list):
            raw_items, list_kind, api_version = document, f"{kind}List", None
        elif isinstance(document, dict) and isinstance(document.get("items", []), list):
            raw_items = document.get("items") or []
            list_kind = str(document.get("kind") or f"{kind}List")
            api_version = document.get("apiVersion")
        else:
            raise DumpError(f"{name} is not a Kubernetes List (no items array)")
        item_kind = list_kind.removesuffix("List") or kind
        default_api = api_version or kind_info(item_kind).api_version
        items: list[dict[str, Any]] = []
        for raw in raw_items:
            if not isinstance(raw, dict):
                continue
            # Items of a dumped List carry no kind/apiVersion of their own.
            obj = {"kind": item_kind, "apiVersion": default_api, **raw}
            if obj["kind"] in {"Secret", "ConfigMap"}:
                obj = keys_only(obj)
            items.append(obj)
        return items

    def _open_tail(self, path: Path) -> IO[str] | None:
        """The file opened for text reading, positioned within the last scan window."""
        if not path.is_file():
            return None
        try:
            handle = path.open("r", encoding="utf-8", errors="replace", newline="")
        except OSError as exc:
            raise DumpError(f"cannot read {path.relative_to(self.root)}: {exc}") from None
        size = path.stat().st_size
        if size > self._max_log_scan_bytes:
            handle.seek(size - self._max_log_scan_bytes)
            handle.readline(MAX_LINE_CHARS)  # a partial line
        return handle

    def _read_plain_tail(self, path: Path, max_lines: int, max_bytes: int) -> str | None:
        handle = self._open_tail(path)
        if handle is None:
            return None
        with handle:
            return bounded_tail(handle, max_lines, max_bytes)

    def _read_block_tail(
        self, path: Path, pod_ref: str, container: str, max_lines: int, max_bytes: int
    ) -> str | None:
        handle = self._open_tail(path)
        if handle is None:
            return None
        tail: deque[str] = deque(maxlen=max(1, max_lines))
        everything: deque[str] = deque(maxlen=max(1, max_lines))
        found = markers = False
        inside = False
        with handle:
            for line in _bounded_lines(handle):
                marker = _BLOCK.match(line)
                if marker is not None:
                    markers = True
                    mine = marker.group(2) == container and marker.group(3) == pod_ref
                    inside = marker.group(1) == "START" and mine
                    if inside:
                        found = True
                        tail.clear()  # a repeated block: the last one wins
                    continue
                if inside:
                    tail.append(line)
                elif not markers:
                    everything.append(line)
        if found:
            return _tail_text(tail, max_bytes)
        if not markers and everything:
            # A hand-written logs.txt without markers: the pod's only log.
            return _tail_text(everything, max_bytes)
        return None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a List's objects are built."""
    # json.load builds dicts and lists that hold no cycles, yet every few hundred of them
    # trigger a collection that walks every object built so far (and every List read before):
    # a node's incident reads all namespaces' pods, and the collections made it about 20 %
    # slower (bench/diagnosis.py). Lists are capped (max_list_bytes).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_name(value: str, what: str) -> None:
    if not _NAME.fullmatch(value):
        raise DumpError(f"invalid {what} {value[:80]!r}: not a Kubernetes object name")

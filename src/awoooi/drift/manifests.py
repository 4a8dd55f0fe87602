"""Reading manifests: YAML/JSON files (multi-document, `kind: List`) and kustomizations
(rendered by `kubectl kustomize`), each object with its source file and document index."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from awoooi.adapters.kustomize import KustomizeError, KustomizeRefused, render_kustomization
from awoooi.adapters.kustomize_refs import KUSTOMIZATION_FILES, kustomization_file
from awoooi.drift.report import ResourceId, ScanProblem

try:  # the C parser is several times faster; fall back when libyaml is absent
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader

INTERN_MAX_CHARS = 40


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, sharing one copy of each short string (keys such as `f:metadata`,
    values such as `TCP`): a scan holds every object at once, and these repeat thousands of
    times (managedFields especially)."""


def _construct_str(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    value = str(loader.construct_scalar(node))
    return sys.intern(value) if len(value) <= INTERN_MAX_CHARS else value


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Manifest:
    """One object and where it came from (adopt-into-Git needs file and document)."""

    obj: dict[str, Any]
    resource: ResourceId
    source_file: str
    document_index: int
    item_index: int | None = None


class AliasBombError(ValueError):
    """A document whose aliases expand beyond the node limit."""


def expanded_size(value: Any, limit: int) -> int:
    """How many nodes the value has once aliases are expanded; AliasBombError past `limit`.

    YAML aliases load as shared references, so a tiny "billion laughs" document loads fast and
    only explodes when something walks it: measured here with memoization, in linear time.
    """
    memo: dict[int, int] = {}

    def size(node: Any) -> int:
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            return 1
        known = memo.get(id(node))
        if known is not None:
            return known
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise AliasBombError(f"the document expands to more than {limit:,} nodes")
        memo[id(node)] = total
        return total

    return size(value)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while YAML builds objects.

    The loader creates containers that hold no cycles, yet every few hundred of them trigger a
    collection that walks all objects built so far: on a 10,000-object scan that doubled the
    parse time. Files are capped (drift.max_file_bytes), so the pause is short.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def resource_id(obj: dict[str, Any]) -> ResourceId | str:
    """The object's identity, or why it has none."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    metadata = obj.get("metadata")
    if not isinstance(api_version, str) or not api_version:
        return "object without apiVersion"
    if not isinstance(kind, str) or not kind:
        return "object without kind"
    if not isinstance(metadata, dict):
        return f"{kind} without metadata"
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return f"{kind} without metadata.name"
    namespace = metadata.get("namespace")
    return ResourceId(api_version, kind, namespace if isinstance(namespace, str) else None, name)


def parse_documents(
    text: str, source: str, *, json_file: bool = False, max_nodes: int = 2_000_000
) -> tuple[list[Manifest], list[ScanProblem]]:
    """Every manifest in one file's text, and what could not be read."""
    problems: list[ScanProblem] = []
    documents: list[Any] = []
    try:
        if json_file:
            documents.append(json.loads(text))
        else:
            # One at a time: the documents before a broken one are still scanned.
            with _collector_paused():
                for document in yaml.load_all(text, Loader=_Loader):
                    documents.append(document)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(ScanProblem(source, f"invalid YAML: {reason}", line))
    except json.JSONDecodeError as exc:
        return [], [ScanProblem(source, f"invalid JSON: {exc.msg}", exc.lineno)]
    except RecursionError:
        problems.append(ScanProblem(source, "nesting too deep"))
    manifests: list[Manifest] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            problems.append(ScanProblem(source, f"document {index}: not a mapping, skipped"))
            continue
        try:
            expanded_size(document, max_nodes)
        except AliasBombError as exc:
            problems.append(ScanProblem(source, f"document {index}: {exc}; refused"))
            continue
        except RecursionError:
            problems.append(ScanProblem(source, f"document {index}: nesting too deep; refused"))
            continue
        if "apiVersion" not in document and "kind" not in document:
            problems.append(
                ScanProblem(
                    source, f"document {index}: not a Kubernetes manifest, skipped", warning=True
                )
            )
            continue
        items = document.get("items")
        if str(document.get("kind", "")).endswith("List") and isinstance(items, list):
            for position, item in enumerate(items):
                _append(manifests, problems, item, source, index, position)
            continue
        _append(manifests, problems, document, source, index, None)
    return manifests, problems


def _append(
    manifests: list[Manifest],
    problems: list[ScanProblem],
    obj: Any,
    source: str,
    index: int,
    position: int | None,
) -> None:
    where = f"document {index}" + (f", item {position}" if position is not None else "")
    if not isinstance(obj, dict):
        problems.append(ScanProblem(source, f"{where}: not a mapping, skipped"))
        return
    found = resource_id(obj)
    if isinstance(found, str):
        problems.append(ScanProblem(source, f"{where}: {found}, skipped"))
        return
    manifests.append(Manifest(obj, found, source, index, position))


def read_manifest_file(
    path: Path, label: str, *, max_bytes: int, max_nodes: int
) -> tuple[list[Manifest], list[ScanProblem]]:
    """One file, size-capped."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return [], [ScanProblem(label, f"larger than {max_bytes:,} bytes; skipped")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [ScanProblem(label, f"cannot read: {exc}")]
    return parse_documents(text, label, json_file=path.suffix == ".json", max_nodes=max_nodes)


def _walk(root: Path) -> Iterator[tuple[Path, bool]]:
    """Kustomization directories (True) and plain manifest files (False) under root, sorted;
    a kustomization owns everything below it; hidden directories and symlinks out are skipped."""
    resolved_root = root.resolve()
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if any(name in files for name in KUSTOMIZATION_FILES):
            dirs[:] = []
            yield here, True
            continue
        for name in sorted(files):
            path = here / name
            if path.suffix not in MANIFEST_SUFFIXES or name.startswith("."):
                continue
            if not path.resolve().is_relative_to(resolved_root):
                continue
            yield path, False


def read_plain_files(
    root: Path, *, max_bytes: int, max_nodes: int
) -> tuple[list[Manifest], list[ScanProblem], list[Path]]:
    """Blocking part of a load: plain files read and parsed, kustomization directories listed."""
    if root.is_file():
        found, wrong = read_manifest_file(root, root.name, max_bytes=max_bytes, max_nodes=max_nodes)
        return found, wrong, []
    if not root.is_dir():
        return [], [ScanProblem(str(root), "no such directory")], []
    manifests: list[Manifest] = []
    problems: list[ScanProblem] = []
    kustomizations: list[Path] = []
    for path, is_kustomization in _walk(root):
        if is_kustomization:
            kustomizations.append(path)
            continue
        found, wrong = read_manifest_file(
            path, str(path.relative_to(root)), max_bytes=max_bytes, max_nodes=max_nodes
        )
        manifests.extend(found)
        problems.extend(wrong)
    return manifests, problems, kustomizations


def _kustomization_file(directory: Path, root: Path) -> str:
    found = next(directory / n for n in KUSTOMIZATION_FILES if (directory / n).exists())
    return str(found.relative_to(root)) if root.is_dir() else found.name


def _refusal_problems(
    source: str, directory: Path, repository: Path, refused: KustomizeRefused
) -> list[ScanProblem]:
    """One problem per refused reference; the file named when it is a nested kustomization."""
    found, root = kustomization_file(directory.resolve()), repository.resolve()
    top = found.relative_to(root) if found is not None and found.is_relative_to(root) else None
    return [
        ScanProblem(source, refusal.text(with_file=refusal.file != str(top)))
        for refusal in refused.refusals
    ]


async def load_directory(
    root: Path,
    *,
    max_bytes: int = 8 * 1024 * 1024,
    max_nodes: int = 2_000_000,
    kustomize_seconds: float = 60.0,
    render: bool = True,
    repository: Path | None = None,
    allow_remote: Collection[str] = (),
) -> tuple[list[Manifest], list[ScanProblem]]:
    """Every manifest under `root` (file labels relative to it) and every problem met.

    Kustomizations may read inside `repository` (default: `root`) and from `allow_remote`
    hosts; one that names anything else is a problem, not rendered.
    """
    manifests, problems, kustomizations = await asyncio.to_thread(
        read_plain_files, root, max_bytes=max_bytes, max_nodes=max_nodes
    )
    if not render:
        return manifests, problems
    repository = repository or root
    for directory in kustomizations:
        source = await asyncio.to_thread(_kustomization_file, directory, root)
        try:
            text = await render_kustomization(
                directory,
                repository=repository,
                allow_remote=allow_remote,
                timeout=kustomize_seconds,
            )
        except KustomizeRefused as exc:
            problems.extend(_refusal_problems(source, directory, repository, exc))
            continue
        except KustomizeError as exc:
            # One kustomization that does not render is a problem of the scan, not its end.
            problems.append(ScanProblem(source, exc.detail))
            continue
        found, wrong = parse_documents(text, source, max_nodes=max_nodes)
        manifests.extend(found)
        problems.extend(wrong)
    return manifests, problems

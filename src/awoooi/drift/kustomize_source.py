"""Which plain file a kustomize-rendered object comes from, so adopt can edit that file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from awoooi.adapters.kustomize_refs import kustomization_file
from awoooi.drift.manifests import parse_documents
from awoooi.drift.report import ResourceId
from awoooi.drift.yaml_edit import EditRefused

MAX_DEPTH = 8
_GENERATORS = ("configMapGenerator", "secretGenerator")
_NOT_PLAIN = ("helmCharts", "helmChartInflationGenerator", "generators")


@dataclass(frozen=True)
class SourceDocument:
    """A document in a plain manifest file: path relative to the repository, indexes."""

    file: str
    document_index: int
    item_index: int | None


def _inside(path: Path, root: Path, shown: str) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise EditRefused(f"{shown} points outside the repository")
    return resolved


def _load(file: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EditRefused(f"cannot read {file.name}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise EditRefused(f"{file.name} is not a kustomization")
    return loaded


def locate(root: Path, kustomization: Path, resource: ResourceId) -> SourceDocument:
    """The plain file and document a rendered object comes from, or EditRefused when it is
    generated, comes from a remote base, or cannot be told apart."""
    root = root.resolve()
    found: list[SourceDocument] = []
    _search(root, kustomization.parent.resolve(), resource, "", "", found, depth=0)
    if not found:
        raise EditRefused(
            f"{resource} is not defined in a plain file of {kustomization.relative_to(root)} "
            "(a generator, a remote base or a patch makes it): edit its source by hand"
        )
    if len(found) > 1:
        files = ", ".join(sorted({hit.file for hit in found}))
        raise EditRefused(f"{resource} matches several source files ({files}): edit by hand")
    return found[0]


def _search(
    root: Path,
    directory: Path,
    resource: ResourceId,
    prefix: str,
    suffix: str,
    found: list[SourceDocument],
    *,
    depth: int,
) -> None:
    if depth > MAX_DEPTH:
        raise EditRefused("kustomizations nest too deeply")
    file = kustomization_file(directory)
    if file is None:
        return
    spec = _load(file)
    prefix = prefix + str(spec.get("namePrefix") or "")
    suffix = str(spec.get("nameSuffix") or "") + suffix
    for key in _GENERATORS:
        for generator in spec.get(key) or []:
            name = generator.get("name") if isinstance(generator, dict) else None
            if (
                resource.kind in {"ConfigMap", "Secret"}
                and name
                and resource.name.startswith(prefix + str(name))
            ):
                raise EditRefused(
                    f"{resource} is made by {key} in {file.relative_to(root)}: "
                    "generated objects cannot be adopted"
                )
    if any(spec.get(key) for key in _NOT_PLAIN):
        raise EditRefused(
            f"{file.relative_to(root)} renders with Helm or plugins: adopt cannot tell its sources"
        )
    entries = [*(spec.get("resources") or []), *(spec.get("bases") or [])]
    for entry in entries:
        if not isinstance(entry, str) or "://" in entry or entry.startswith(("git@", "github.com")):
            continue  # a remote base is not in this repository
        target = _inside(directory / entry, root, entry)
        if target.is_dir():
            _search(root, target, resource, prefix, suffix, found, depth=depth + 1)
        elif target.is_file():
            _match_file(root, target, resource, prefix, suffix, found)


def _match_file(
    root: Path,
    file: Path,
    resource: ResourceId,
    prefix: str,
    suffix: str,
    found: list[SourceDocument],
) -> None:
    label = str(file.relative_to(root))
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    manifests, _ = parse_documents(text, label, json_file=file.suffix == ".json")
    for manifest in manifests:
        candidate = manifest.resource
        if candidate.kind != resource.kind or candidate.group != resource.group:
            continue
        if prefix + candidate.name + suffix != resource.name:
            continue
        found.append(SourceDocument(label, manifest.document_index, manifest.item_index))

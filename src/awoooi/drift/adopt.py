"""Adopt: the live values of chosen drift items written into the Git files they came from
(byte-exact edits), committed and pushed."""

from __future__ import annotations

import asyncio
import copy
import difflib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from awoooi.adapters.git import GitClient, Worktree
from awoooi.adapters.kube import ClusterReader
from awoooi.adapters.kustomize import KustomizeError, render_kustomization
from awoooi.adapters.kustomize_refs import KUSTOMIZATION_FILES
from awoooi.drift.decisions import (
    ActionResult,
    ItemOutcome,
    RemediationRefused,
    decide,
    resource_of,
)
from awoooi.drift.diff import LAST_APPLIED
from awoooi.drift.kustomize_source import locate
from awoooi.drift.manifests import parse_documents
from awoooi.drift.models import DriftItemRecord, DriftReportRecord
from awoooi.drift.paths import ABSENT, decode_segments, value_at, values_match
from awoooi.drift.report import Change, DriftStatus
from awoooi.drift.scanning import live_state, sources_of
from awoooi.drift.settings import DriftSettings
from awoooi.drift.sources import DriftSourceError, is_git_url
from awoooi.drift.yaml_edit import DELETE, EditRefused, FieldEdit, edit_document

_FIELD_CHANGES = {Change.MODIFIED.value, Change.ADDED.value, Change.REMOVED.value}


class DriftAdopt:
    """Writes live values of chosen items into Git."""

    def __init__(
        self,
        settings: DriftSettings,
        *,
        git: GitClient,
        cache_dir: Path,
        reader: Callable[[], ClusterReader | None],
    ) -> None:
        self.settings = settings
        self._git = git
        self._cache_dir = cache_dir
        self._reader = reader

    async def run(
        self,
        record: DriftReportRecord,
        items: list[DriftItemRecord],
        result: ActionResult,
        *,
        actor: str,
        dry_run: bool,
    ) -> None:
        """Adopt the items, recording each outcome (and the commit) in `result`."""
        if not is_git_url(record.desired_source):
            raise RemediationRefused(
                "adopt writes into Git, and this report's desired state was a local directory"
            )
        for item in items:
            refusal = _adopt_refusal(item)
            if refusal:
                raise RemediationRefused(f"item {item.id} ({item.kind}/{item.name}): {refusal}")
        edits = await self._live_edits(record, items)
        target = self._push_branch(record)
        base = self.settings.adopt_branch or record.desired_ref
        if target is not None and await self._git.remote_branch_exists(
            record.desired_source, target, timeout=self.settings.git_timeout_seconds
        ):
            base = target  # a later adopt of the same report goes on top of the first
        async with self._git.edit_worktree(
            record.desired_source,
            base,
            self._cache_dir / "adopt",
            timeout=self.settings.git_timeout_seconds,
        ) as worktree:
            changed = await self._edit_files(worktree, record, items, edits, result)
            branch = target or worktree.branch
            result.branch = branch
            if dry_run:
                for item in items:
                    result.items.append(
                        ItemOutcome(item.id, str(resource_of(item)), item.path, "would_change")
                    )
                return
            commit = await self._git.commit_files(
                worktree,
                changed,
                _commit_message(record, items, actor),
                author_name=self.settings.git_author_name,
                author_email=self.settings.git_author_email,
                timeout=self.settings.git_timeout_seconds,
            )
            if commit is not None:
                await self._git.push(worktree, branch, timeout=self.settings.git_timeout_seconds)
        result.commit = commit
        for item in items:
            detail = {"commit": commit, "branch": branch, "file": item.source_file}
            decide(item, DriftStatus.ADOPTED, actor, detail)
            result.items.append(
                ItemOutcome(
                    item.id,
                    str(resource_of(item)),
                    item.path,
                    "adopted",
                    "" if commit else "Git already had the live value",
                )
            )

    def _push_branch(self, record: DriftReportRecord) -> str | None:
        if self.settings.adopt_branch_mode == "branch":
            return f"awoooi/adopt-{record.id}"
        return self.settings.adopt_branch

    async def _live_edits(
        self, record: DriftReportRecord, items: list[DriftItemRecord]
    ) -> dict[int, FieldEdit]:
        """Each item's edit, from the live object read now (saved values are redacted)."""
        try:
            live = await live_state(sources_of(record), self.settings, self._reader())
        except DriftSourceError as exc:
            raise RemediationRefused(f"cannot read the live state again: {exc.detail}") from exc
        objects: dict[tuple[str, str, str, str], dict[str, Any] | None] = {}
        edits = {}
        for item in items:
            resource = resource_of(item)
            if resource.key() not in objects:
                objects[resource.key()] = await live.get(resource)
            obj = objects[resource.key()]
            if obj is None:
                raise RemediationRefused(f"{resource} is no longer live: nothing to adopt")
            segments = decode_segments(item.path_segments)
            value = value_at(obj, segments)
            new_value = DELETE if value is ABSENT else copy.deepcopy(value)
            edits[item.id] = FieldEdit(segments, new_value)
        return edits

    async def _edit_files(
        self,
        worktree: Worktree,
        record: DriftReportRecord,
        items: list[DriftItemRecord],
        edits: dict[int, FieldEdit],
        result: ActionResult,
    ) -> list[str]:
        """Edit every file the items come from; the changed paths (relative to the repo)."""
        base = PurePosixPath(record.desired_path or ".")
        groups: dict[tuple[str, int, int | None], list[DriftItemRecord]] = {}
        kustomized: list[tuple[Path, DriftItemRecord]] = []
        for item in items:
            if item.source_file is None or item.document_index is None:
                raise RemediationRefused(f"item {item.id}: the scan did not record its file")
            relative = str(base / item.source_file)
            if PurePosixPath(item.source_file).name in KUSTOMIZATION_FILES:
                # Rendered by kustomize: find the plain file that defines the object.
                kustomization = self._git.worktree_file(worktree, relative)
                location = await asyncio.to_thread(
                    locate, worktree.path, kustomization, resource_of(item)
                )
                kustomized.append((kustomization, item))
                key = (location.file, location.document_index, location.item_index)
            else:
                key = (relative, item.document_index, item.item_index)
            groups.setdefault(key, []).append(item)
        originals: dict[str, str] = {}
        texts: dict[str, str] = {}
        for (relative, document_index, item_index), group in groups.items():
            path = self._git.worktree_file(worktree, relative)
            if relative not in texts:
                texts[relative] = await asyncio.to_thread(_read, path)
                originals[relative] = texts[relative]
            located = any(item in {hit for _, hit in kustomized} for item in group)
            _check_document(
                texts[relative], relative, document_index, item_index, group[0], located=located
            )
            texts[relative] = edit_document(
                texts[relative],
                document_index,
                [edits[item.id] for item in group],
                item_index=item_index,
            )
        changed = [relative for relative in texts if texts[relative] != originals[relative]]
        for relative in changed:
            await asyncio.to_thread(
                _write, self._git.worktree_file(worktree, relative), texts[relative]
            )
        try:
            for kustomization, item in kustomized:
                await self._check_rendered(worktree.path, kustomization, item, edits[item.id])
        except EditRefused:
            for relative in changed:  # leave the worktree as it was (it is thrown away anyway)
                await asyncio.to_thread(
                    _write, self._git.worktree_file(worktree, relative), originals[relative]
                )
            raise
        result.diff = "".join(
            "".join(
                difflib.unified_diff(
                    originals[relative].splitlines(keepends=True),
                    texts[relative].splitlines(keepends=True),
                    f"a/{relative}",
                    f"b/{relative}",
                )
            )
            for relative in changed
        )
        return changed

    async def _check_rendered(
        self, repository: Path, kustomization: Path, item: DriftItemRecord, edit: FieldEdit
    ) -> None:
        """After the edit, the rendered object must carry the live value: else the field comes
        from a patch or transformer, and the edit went to the wrong file."""
        try:
            text = await render_kustomization(
                kustomization.parent,
                repository=repository,
                allow_remote=self.settings.kustomize_allow_remote,
                timeout=self.settings.kustomize_timeout_seconds,
            )
        except KustomizeError as exc:
            raise EditRefused(
                f"the kustomization does not render after the edit: {exc.detail}"
            ) from exc
        manifests, _ = parse_documents(text, kustomization.name)
        wanted = resource_of(item).key()
        for manifest in manifests:
            if manifest.resource.key() == wanted:
                value = value_at(manifest.obj, edit.path)
                expected = ABSENT if edit.value is DELETE else edit.value
                if values_match(value, expected):
                    return
                break
        raise EditRefused(
            f"{item.path} of {resource_of(item)} comes from a patch, a transformer or a generator "
            f"in {kustomization.name}, not from its resource file: edit it there by hand"
        )


def _adopt_refusal(item: DriftItemRecord) -> str:
    if item.change not in _FIELD_CHANGES:
        return (
            f"a {item.change} resource cannot be adopted field by field: "
            "add or delete its manifest in Git by hand"
        )
    if item.kind == "Secret":
        return "Secret values are never written into Git"
    if item.path.endswith(f'["{LAST_APPLIED}"]') or LAST_APPLIED in item.path:
        return "the last-applied annotation is written by kubectl, not by hand"
    if item.source_file is None or item.document_index is None:
        return "the scan did not record which file it came from"
    if not item.path_segments:
        return "the scan did not record the field's path (saved by an older version)"
    return ""


def _check_document(
    text: str,
    relative: str,
    document_index: int,
    item_index: int | None,
    item: DriftItemRecord,
    *,
    located: bool,
) -> None:
    """The document at the saved index must still be the item's object (Git moved on?)."""
    manifests, _ = parse_documents(text, relative)
    for manifest in manifests:
        if manifest.document_index == document_index and manifest.item_index == item_index:
            found = manifest.resource
            # A kustomize source file names the object before namePrefix/nameSuffix.
            if found.kind == item.kind and (located or found.name == item.name):
                return
            break
    raise RemediationRefused(
        f"{relative} changed since the scan (document {document_index} is no longer "
        f"{resource_of(item)}): scan again"
    )


def _commit_message(record: DriftReportRecord, items: list[DriftItemRecord], actor: str) -> str:
    lines = [f"awoooi: adopt live drift from report {record.id}", ""]
    by_resource: dict[str, list[str]] = {}
    for item in items:
        by_resource.setdefault(str(resource_of(item)), []).append(item.path)
    for resource, paths in by_resource.items():
        lines.append(f"{resource}:")
        lines.extend(f"  - {path}" for path in paths)
    lines += ["", f"Adopted by {actor} (drift report {record.id}, scanned at {record.revision})."]
    return "\n".join(lines) + "\n"


def _read(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        raise RemediationRefused(
            f"{path.name} is no longer in the repository: scan again"
        ) from None


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)

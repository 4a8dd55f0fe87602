"""What an operator does with drift: roll it back (server-side apply of the Git state), adopt
it (write the live values into the Git file, commit, push) or ignore it."""

from __future__ import annotations

import asyncio
import copy
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.adapters.git import (
    Worktree,
    commit_files,
    edit_worktree,
    push,
    remote_branch_exists,
    worktree_file,
)
from awoooi.adapters.kube import ClusterReader, ClusterWriter, KubeConflict, KubeError
from awoooi.core.db import utcnow
from awoooi.core.errors import AwoooiError, ForbiddenError, InvalidInputError, NotFoundError
from awoooi.drift import repository
from awoooi.drift.analyze import clean_value, masked_value
from awoooi.drift.diff import LAST_APPLIED, scale_owners
from awoooi.drift.kustomize_source import locate
from awoooi.drift.manifests import KUSTOMIZATION_FILES, parse_documents, render_kustomization
from awoooi.drift.models import DriftIgnoreRule, DriftItemRecord, DriftReportRecord
from awoooi.drift.paths import ABSENT, remove_at, value_at
from awoooi.drift.report import Change, DriftStatus, ReportStatus, ResourceId
from awoooi.drift.scanning import live_state, sources_of
from awoooi.drift.service import (
    DriftSourceError,
    decode_segments,
    is_git_url,
    load_desired,
    report_status,
)
from awoooi.drift.settings import DriftSettings
from awoooi.drift.yaml_edit import DELETE, EditRefused, FieldEdit, edit_document

_FIELD_CHANGES = {Change.MODIFIED.value, Change.ADDED.value, Change.REMOVED.value}
# Fields an apply body must not carry: the server owns them.
_SERVER_FIELDS = ("status",)
_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation")


class RemediationRefused(AwoooiError):
    """The action cannot be done on these items (the detail says why)."""

    status_code = 409
    code = "drift_action_refused"


@dataclass
class ItemOutcome:
    """What happened to one item."""

    item_id: int
    resource: str
    path: str
    outcome: str  # rolled_back | adopted | ignored | would_change | unchanged | skipped | failed
    detail: str = ""
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        """The API's shape."""
        return {
            "item_id": self.item_id,
            "resource": self.resource,
            "path": self.path,
            "outcome": self.outcome,
            "detail": self.detail,
            "before": self.before,
            "after": self.after,
        }


@dataclass
class ActionResult:
    """The answer to a rollback, adopt or ignore request."""

    report_id: int
    action: str
    dry_run: bool
    items: list[ItemOutcome] = field(default_factory=list)
    commit: str | None = None
    branch: str | None = None
    diff: str = ""
    report_status: str = ""

    @property
    def ok(self) -> bool:
        """Nothing failed."""
        return all(item.outcome != "failed" for item in self.items)

    def to_json(self) -> dict[str, Any]:
        """The API's shape."""
        return {
            "report_id": self.report_id,
            "action": self.action,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "report_status": self.report_status,
            "commit": self.commit,
            "branch": self.branch,
            "diff": self.diff,
            "items": [item.to_json() for item in self.items],
        }


def _resource(item: DriftItemRecord) -> ResourceId:
    return ResourceId(item.api_version, item.kind, item.namespace, item.name)


def _shown(item: DriftItemRecord, value: Any) -> Any:
    """A value as it may be shown: Secret values fingerprinted, secret-shaped text redacted."""
    if value is ABSENT:
        return None
    if item.kind == "Secret":
        return masked_value(value)
    return clean_value(value)


async def _report(session: AsyncSession, report_id: int) -> DriftReportRecord:
    record = await repository.get_report(session, report_id, for_update=True)
    if record is None:
        raise NotFoundError(f"no drift report {report_id}")
    if record.status in {ReportStatus.QUEUED.value, ReportStatus.FAILED.value}:
        raise RemediationRefused(f"drift report {report_id} is {record.status}: nothing to act on")
    return record


def chosen_items(
    record: DriftReportRecord, item_ids: Sequence[int], *, limit: int
) -> list[DriftItemRecord]:
    """The named items of the report (every reported one when none are named)."""
    if len(item_ids) > limit:
        raise InvalidInputError(f"at most {limit} items per request (got {len(item_ids)})")
    by_id = {item.id: item for item in record.items}
    if not item_ids:
        return [item for item in record.items if not item.ignored]
    unknown = sorted(set(item_ids) - set(by_id))
    if unknown:
        raise NotFoundError(
            f"drift report {record.id} has no item {', '.join(map(str, unknown[:10]))}"
        )
    return [by_id[item_id] for item_id in dict.fromkeys(item_ids)]


def _decide(item: DriftItemRecord, status: DriftStatus, actor: str, detail: dict[str, Any]) -> None:
    item.status = status.value
    item.status_by = actor[:128]
    item.status_at = utcnow()
    item.status_detail = detail


def _refresh_status(record: DriftReportRecord) -> str:
    record.status = report_status(item.status for item in record.items if not item.ignored).value
    return record.status


def _undecided(items: list[DriftItemRecord], result: ActionResult) -> list[DriftItemRecord]:
    """Items still DETECTED; the others are reported as skipped (deciding twice is a no-op)."""
    waiting = []
    for item in items:
        if item.status == DriftStatus.DETECTED.value:
            waiting.append(item)
        else:
            result.items.append(
                ItemOutcome(
                    item.id,
                    str(_resource(item)),
                    item.path,
                    "skipped",
                    f"already {item.status} by {item.status_by or '?'}",
                )
            )
    return waiting


ReaderProvider = Callable[[], ClusterReader | None]
WriterProvider = Callable[[], ClusterWriter | None]


class DriftRemediator:
    """Rollback, adopt and ignore on saved reports."""

    def __init__(
        self,
        settings: DriftSettings,
        *,
        cache_dir: Path,
        reader: ReaderProvider,
        writer: WriterProvider,
        cluster_context: str | None = None,
    ) -> None:
        self.settings = settings
        self._cache_dir = cache_dir
        self._reader = reader
        self._writer = writer
        self._context = cluster_context

    def _same_cluster(self, record: DriftReportRecord) -> None:
        """A report read from one kubeconfig context is never acted on in another cluster."""
        scanned = record.live_context
        if record.live_dump or scanned in (None, "configured") or scanned == self._context:
            return
        raise RemediationRefused(
            f"drift report {record.id} was scanned in context {scanned!r}, and this service "
            f"talks to {self._context or 'its configured cluster'!r}: scan again here"
        )

    # ------------------------------------------------------------------ ignore

    async def ignore(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        *,
        actor: str,
        reason: str,
        add_rule: bool = False,
    ) -> ActionResult:
        """Mark items IGNORED; `add_rule` also whitelists each field for later scans."""
        record = await _report(session, report_id)
        if not item_ids:
            raise InvalidInputError("name the items to ignore")
        result = ActionResult(report_id, "ignore", dry_run=False)
        items = _undecided(
            chosen_items(record, item_ids, limit=self.settings.max_items_per_action), result
        )
        if add_rule:
            pathless = [item.id for item in items if not item.path]
            if pathless:
                raise InvalidInputError(
                    f"items {pathless} are whole resources (missing/extra): a rule whitelists "
                    "fields only; ignore them without add_rule"
                )
        for item in items:
            detail: dict[str, Any] = {"reason": reason}
            if add_rule:
                rule = DriftIgnoreRule(
                    kind=item.kind,
                    group=_resource(item).group,
                    namespace=item.namespace or "",
                    name=item.name,
                    path=item.path,
                    reason=(reason or f"ignored by {actor}")[:500],
                    created_by=actor[:128],
                    created_at=utcnow(),
                    item_id=item.id,
                )
                session.add(rule)
                await session.flush()
                detail["rule_id"] = rule.id
            _decide(item, DriftStatus.IGNORED, actor, detail)
            result.items.append(
                ItemOutcome(item.id, str(_resource(item)), item.path, "ignored", reason)
            )
        result.report_status = _refresh_status(record)
        await session.flush()
        return result

    # ---------------------------------------------------------------- rollback

    async def rollback(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        *,
        actor: str,
        dry_run: bool = False,
        force: bool = False,
        delete_extra: bool = False,
    ) -> ActionResult:
        """Apply the Git state of the chosen items' resources (a dry run first, always)."""
        if not self.settings.rollback_enabled:
            raise ForbiddenError("rollback is turned off (drift.rollback_enabled: false)")
        record = await _report(session, report_id)
        self._same_cluster(record)
        result = ActionResult(report_id, "rollback", dry_run=dry_run)
        items = _undecided(
            chosen_items(record, item_ids, limit=self.settings.max_items_per_action), result
        )
        if not items:
            result.report_status = record.status
            return result
        writer = self._writer()
        reader = self._reader()
        if writer is None or reader is None:
            raise RemediationRefused("rollback needs a cluster: configure one in the kube settings")
        desired = await load_desired(
            record.desired_source,
            ref=record.revision or record.desired_ref,
            sub_path=record.desired_path,
            settings=self.settings,
            cache_dir=self._cache_dir,
        )
        manifests = {manifest.resource.key(): manifest for manifest in desired.manifests}
        groups: dict[tuple[str, str, str, str], list[DriftItemRecord]] = {}
        for item in items:
            groups.setdefault(_resource(item).key(), []).append(item)
        for key, group in groups.items():
            resource = _resource(group[0])
            # Fields to keep as they are live: whitelisted, ignored or not chosen. Fields rolled
            # back before stay in the body: leaving out a field awoooi owns would delete it.
            others = [
                item
                for item in record.items
                if _resource(item).key() == key
                and item not in group
                and item.status != DriftStatus.ROLLED_BACK.value
            ]
            await self._rollback_resource(
                resource,
                group,
                others,
                manifests.get(key),
                reader,
                writer,
                result,
                actor=actor,
                force=force,
                delete_extra=delete_extra,
            )
        result.report_status = _refresh_status(record)
        await session.flush()
        return result

    async def _rollback_resource(
        self,
        resource: ResourceId,
        items: list[DriftItemRecord],
        others: list[DriftItemRecord],
        manifest: Any,
        reader: ClusterReader,
        writer: ClusterWriter,
        result: ActionResult,
        *,
        actor: str,
        force: bool,
        delete_extra: bool,
    ) -> None:
        def outcome(item: DriftItemRecord, kind: str, detail: str = "", **values: Any) -> None:
            result.items.append(
                ItemOutcome(item.id, str(resource), item.path, kind, detail, **values)
            )

        if items[0].change == Change.EXTRA.value:
            await self._delete_extra(resource, items, writer, result, actor, delete_extra)
            return
        if manifest is None:
            for item in items:
                outcome(item, "failed", "the resource is no longer in Git at the scanned revision")
            return
        try:
            live = await reader.get_object(
                resource.api_version, resource.kind, resource.namespace or "default", resource.name
            )
        except KubeError as exc:
            for item in items:
                outcome(item, "failed", exc.detail)
            return
        body = apply_body(manifest.obj, live, others)
        try:
            preview = await writer.apply_object(
                body, field_manager=self.settings.field_manager, dry_run=True, force=force
            )
            applied = preview
            if not result.dry_run:
                applied = await writer.apply_object(
                    body, field_manager=self.settings.field_manager, force=force
                )
        except KubeConflict as exc:
            for item in items:
                outcome(
                    item,
                    "failed",
                    f"{exc.detail} (another manager owns the field: roll back with force to "
                    "take it)",
                )
            return
        except KubeError as exc:
            for item in items:
                outcome(item, "failed", exc.detail)
            return
        for item in items:
            segments = decode_segments(item.path_segments)
            before = value_at(live, segments) if live is not None else ABSENT
            after = value_at(applied, segments) if segments else applied
            wanted = value_at(manifest.obj, segments) if segments else manifest.obj
            shown = {"before": _shown(item, before), "after": _shown(item, after)}
            back = True if not segments else _matches(after, wanted)
            if result.dry_run:
                outcome(item, "would_change" if back else "failed", _why(back, after), **shown)
                continue
            if not back:
                outcome(item, "failed", _why(back, after), **shown)
                continue
            _decide(
                item,
                DriftStatus.ROLLED_BACK,
                actor,
                {
                    "field_manager": self.settings.field_manager,
                    "force": force,
                    "resource_version": (applied.get("metadata") or {}).get("resourceVersion"),
                },
            )
            outcome(item, "rolled_back", "", **shown)

    async def _delete_extra(
        self,
        resource: ResourceId,
        items: list[DriftItemRecord],
        writer: ClusterWriter,
        result: ActionResult,
        actor: str,
        delete_extra: bool,
    ) -> None:
        for item in items:
            if not delete_extra:
                result.items.append(
                    ItemOutcome(
                        item.id,
                        str(resource),
                        "",
                        "skipped",
                        "an extra resource is deleted only when asked (delete_extra)",
                    )
                )
                continue
            try:
                await writer.delete_object(
                    resource.api_version,
                    resource.kind,
                    resource.namespace,
                    resource.name,
                    dry_run=True,
                )
                if not result.dry_run:
                    await writer.delete_object(
                        resource.api_version, resource.kind, resource.namespace, resource.name
                    )
            except KubeError as exc:
                result.items.append(ItemOutcome(item.id, str(resource), "", "failed", exc.detail))
                continue
            if result.dry_run:
                result.items.append(
                    ItemOutcome(item.id, str(resource), "", "would_change", "would be deleted")
                )
                continue
            _decide(item, DriftStatus.ROLLED_BACK, actor, {"deleted": True})
            result.items.append(ItemOutcome(item.id, str(resource), "", "rolled_back", "deleted"))

    # ------------------------------------------------------------------- adopt

    async def adopt(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        *,
        actor: str,
        dry_run: bool = False,
    ) -> ActionResult:
        """Write the live values of the items into their Git files, commit and push."""
        record = await _report(session, report_id)
        self._same_cluster(record)
        result = ActionResult(report_id, "adopt", dry_run=dry_run)
        items = _undecided(
            chosen_items(record, item_ids, limit=self.settings.max_items_per_action), result
        )
        if not items:
            result.report_status = record.status
            return result
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
        if target is not None and await remote_branch_exists(
            record.desired_source, target, timeout=self.settings.git_timeout_seconds
        ):
            base = target  # a later adopt of the same report goes on top of the first
        async with edit_worktree(
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
                        ItemOutcome(item.id, str(_resource(item)), item.path, "would_change")
                    )
                result.report_status = record.status
                return result
            commit = await commit_files(
                worktree,
                changed,
                _commit_message(record, items, actor),
                author_name=self.settings.git_author_name,
                author_email=self.settings.git_author_email,
                timeout=self.settings.git_timeout_seconds,
            )
            if commit is not None:
                await push(worktree, branch, timeout=self.settings.git_timeout_seconds)
        result.commit = commit
        for item in items:
            detail = {"commit": commit, "branch": branch, "file": item.source_file}
            _decide(item, DriftStatus.ADOPTED, actor, detail)
            result.items.append(
                ItemOutcome(
                    item.id,
                    str(_resource(item)),
                    item.path,
                    "adopted",
                    "" if commit else "Git already had the live value",
                )
            )
        result.report_status = _refresh_status(record)
        await session.flush()
        return result

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
            resource = _resource(item)
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
                location = await asyncio.to_thread(
                    locate,
                    worktree.path,
                    worktree_file(worktree, relative),
                    _resource(item),
                )
                kustomized.append((worktree_file(worktree, relative), item))
                key = (location.file, location.document_index, location.item_index)
            else:
                key = (relative, item.document_index, item.item_index)
            groups.setdefault(key, []).append(item)
        originals: dict[str, str] = {}
        texts: dict[str, str] = {}
        for (relative, document_index, item_index), group in groups.items():
            path = worktree_file(worktree, relative)
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
            await asyncio.to_thread(_write, worktree_file(worktree, relative), texts[relative])
        try:
            for kustomization, item in kustomized:
                await self._check_rendered(kustomization, item, edits[item.id])
        except EditRefused:
            for relative in changed:  # leave the worktree as it was (it is thrown away anyway)
                await asyncio.to_thread(
                    _write, worktree_file(worktree, relative), originals[relative]
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
        self, kustomization: Path, item: DriftItemRecord, edit: FieldEdit
    ) -> None:
        """After the edit, the rendered object must carry the live value: else the field comes
        from a patch or transformer, and the edit went to the wrong file."""
        try:
            text = await render_kustomization(
                kustomization.parent, self.settings.kustomize_timeout_seconds
            )
        except RuntimeError as exc:
            raise EditRefused(f"the kustomization does not render after the edit: {exc}") from exc
        manifests, _ = parse_documents(text, kustomization.name)
        wanted = _resource(item).key()
        for manifest in manifests:
            if manifest.resource.key() == wanted:
                value = value_at(manifest.obj, edit.path)
                expected = ABSENT if edit.value is DELETE else edit.value
                if _matches(value, expected):
                    return
                break
        raise EditRefused(
            f"{item.path} of {_resource(item)} comes from a patch, a transformer or a generator "
            f"in {kustomization.name}, not from its resource file: edit it there by hand"
        )


def apply_body(
    desired: dict[str, Any], live: dict[str, Any] | None, keep_live: list[DriftItemRecord]
) -> dict[str, Any]:
    """The object to apply: Git's, without server-owned fields, without the fields to keep as
    they are live (whitelisted, not chosen, autoscaler-owned replicas)."""
    body = copy.deepcopy(desired)
    for name in _SERVER_FIELDS:
        body.pop(name, None)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for name in _SERVER_METADATA:
            metadata.pop(name, None)
    for item in keep_live:
        segments = decode_segments(item.path_segments)
        if segments:
            remove_at(body, segments)
    if live is not None and scale_owners(live):
        # An autoscaler writes replicas through the scale subresource; applying Git's number
        # would fight it (and take ownership from it).
        remove_at(body, ("spec", "replicas"))
    return body


def _matches(value: Any, wanted: Any) -> bool:
    if value is ABSENT or wanted is ABSENT:
        return value is wanted
    if isinstance(value, (int, float)) and isinstance(wanted, (int, float)):
        return bool(value == wanted)
    return bool(value == wanted or str(value) == str(wanted))


def _why(back: bool, after: Any) -> str:
    if back:
        return ""
    if after is ABSENT:
        return "after the apply the field is still absent"
    return "after the apply the field still differs from Git (another manager owns it?)"


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
        f"{_resource(item)}): scan again"
    )


def _commit_message(record: DriftReportRecord, items: list[DriftItemRecord], actor: str) -> str:
    lines = [f"awoooi: adopt live drift from report {record.id}", ""]
    by_resource: dict[str, list[str]] = {}
    for item in items:
        by_resource.setdefault(str(_resource(item)), []).append(item.path)
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

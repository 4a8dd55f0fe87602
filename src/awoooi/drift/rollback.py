"""Rollback: the Git state of drifted resources applied by server-side apply (a dry run
first), leaving whitelisted, unchosen and autoscaler-owned fields as they are live."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from awoooi.adapters.git import GitClient
from awoooi.adapters.kube import ClusterReader, ClusterWriter, KubeConflict, KubeError
from awoooi.drift.decisions import (
    ActionResult,
    ItemOutcome,
    RemediationRefused,
    decide,
    resource_of,
    shown_value,
)
from awoooi.drift.diff import scale_owners
from awoooi.drift.manifests import Manifest
from awoooi.drift.models import DriftItemRecord, DriftReportRecord
from awoooi.drift.paths import ABSENT, decode_segments, remove_at, value_at, values_match
from awoooi.drift.report import Change, DriftStatus, ResourceId
from awoooi.drift.settings import DriftSettings
from awoooi.drift.sources import load_desired

# Fields an apply body must not carry: the server owns them.
_SERVER_FIELDS = ("status",)
_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation")


class DriftRollback:
    """Applies Git's state for chosen items of a report."""

    def __init__(self, settings: DriftSettings, *, git: GitClient, cache_dir: Path) -> None:
        self.settings = settings
        self._git = git
        self._cache_dir = cache_dir

    async def run(
        self,
        record: DriftReportRecord,
        items: list[DriftItemRecord],
        result: ActionResult,
        *,
        reader: ClusterReader | None,
        writer: ClusterWriter | None,
        actor: str,
        force: bool,
        delete_extra: bool,
    ) -> None:
        """Roll the items back, recording each outcome in `result`."""
        if writer is None or reader is None:
            raise RemediationRefused("rollback needs a cluster: configure one in the kube settings")
        desired = await load_desired(
            record.desired_source,
            git=self._git,
            ref=record.revision or record.desired_ref,
            sub_path=record.desired_path,
            settings=self.settings,
            cache_dir=self._cache_dir,
        )
        manifests = {manifest.resource.key(): manifest for manifest in desired.manifests}
        groups: dict[tuple[str, str, str, str], list[DriftItemRecord]] = {}
        for item in items:
            groups.setdefault(resource_of(item).key(), []).append(item)
        for key, group in groups.items():
            resource = resource_of(group[0])
            # Fields to keep as they are live: whitelisted, ignored or not chosen. Fields rolled
            # back before stay in the body: leaving out a field awoooi owns would delete it.
            others = [
                item
                for item in record.items
                if resource_of(item).key() == key
                and item not in group
                and item.status != DriftStatus.ROLLED_BACK
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

    async def _rollback_resource(
        self,
        resource: ResourceId,
        items: list[DriftItemRecord],
        others: list[DriftItemRecord],
        manifest: Manifest | None,
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
            shown = {"before": shown_value(item, before), "after": shown_value(item, after)}
            back = True if not segments else values_match(after, wanted)
            if result.dry_run:
                outcome(item, "would_change" if back else "failed", _why(back, after), **shown)
                continue
            if not back:
                outcome(item, "failed", _why(back, after), **shown)
                continue
            decide(
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
            decide(item, DriftStatus.ROLLED_BACK, actor, {"deleted": True})
            result.items.append(ItemOutcome(item.id, str(resource), "", "rolled_back", "deleted"))


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


def _why(back: bool, after: Any) -> str:
    if back:
        return ""
    if after is ABSENT:
        return "after the apply the field is still absent"
    return "after the apply the field still differs from Git (another manager owns it?)"

"""What an operator does with drift: roll it back (server-side apply of the Git state), adopt
it (write the live values into the Git file, commit, push) or ignore it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.adapters.git import GitClient
from awoooi.adapters.kube import ClusterReader, ClusterWriter
from awoooi.core.db import utcnow
from awoooi.core.errors import ForbiddenError, InvalidInputError
from awoooi.drift.adopt import DriftAdopt
from awoooi.drift.decisions import (
    ActionResult,
    ItemOutcome,
    RemediationRefused,
    chosen_items,
    decide,
    load_report,
    refresh_status,
    resource_of,
    undecided,
)
from awoooi.drift.models import DriftIgnoreRule, DriftItemRecord, DriftReportRecord
from awoooi.drift.report import DriftStatus
from awoooi.drift.rollback import DriftRollback
from awoooi.drift.settings import DriftSettings

ReaderProvider = Callable[[], ClusterReader | None]
WriterProvider = Callable[[], ClusterWriter | None]
# Does an action on the chosen items, filling in the result.
_Run = Callable[[DriftReportRecord, list[DriftItemRecord], ActionResult], Awaitable[None]]


class DriftRemediator:
    """Rollback, adopt and ignore on saved reports."""

    def __init__(
        self,
        settings: DriftSettings,
        *,
        git: GitClient,
        cache_dir: Path,
        reader: ReaderProvider,
        writer: WriterProvider,
        cluster_context: str | None = None,
    ) -> None:
        self.settings = settings
        self._reader = reader
        self._writer = writer
        self._context = cluster_context
        self._rollback = DriftRollback(settings, git=git, cache_dir=cache_dir)
        self._adopt = DriftAdopt(settings, git=git, cache_dir=cache_dir, reader=reader)

    def _same_cluster(self, record: DriftReportRecord) -> None:
        """A report read from one kubeconfig context is never acted on in another cluster."""
        scanned = record.live_context
        if record.live_dump or scanned in (None, "configured") or scanned == self._context:
            return
        raise RemediationRefused(
            f"drift report {record.id} was scanned in context {scanned!r}, and this service "
            f"talks to {self._context or 'its configured cluster'!r}: scan again here"
        )

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
        record = await load_report(session, report_id)
        if not item_ids:
            raise InvalidInputError("name the items to ignore")
        result = ActionResult(report_id, "ignore", dry_run=False)
        items = undecided(
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
                    group=resource_of(item).group,
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
            decide(item, DriftStatus.IGNORED, actor, detail)
            result.items.append(
                ItemOutcome(item.id, str(resource_of(item)), item.path, "ignored", reason)
            )
        result.report_status = refresh_status(record)
        await session.flush()
        return result

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

        async def run(
            record: DriftReportRecord, items: list[DriftItemRecord], result: ActionResult
        ) -> None:
            await self._rollback.run(
                record,
                items,
                result,
                reader=self._reader(),
                writer=self._writer(),
                actor=actor,
                force=force,
                delete_extra=delete_extra,
            )

        return await self._act(session, report_id, item_ids, "rollback", dry_run=dry_run, run=run)

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

        async def run(
            record: DriftReportRecord, items: list[DriftItemRecord], result: ActionResult
        ) -> None:
            await self._adopt.run(record, items, result, actor=actor, dry_run=dry_run)

        return await self._act(session, report_id, item_ids, "adopt", dry_run=dry_run, run=run)

    async def _act(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        action: str,
        *,
        dry_run: bool,
        run: _Run,
    ) -> ActionResult:
        """What rollback and adopt share: the report (locked, scanned in this cluster), `run` on
        the chosen items still undecided, and the report's status after it."""
        record = await load_report(session, report_id)
        self._same_cluster(record)
        result = ActionResult(report_id, action, dry_run=dry_run)
        items = undecided(
            chosen_items(record, item_ids, limit=self.settings.max_items_per_action), result
        )
        if not items:
            result.report_status = record.status
            return result
        await run(record, items, result)
        if dry_run:  # nothing was decided: the report stands as it was
            result.report_status = record.status
            return result
        result.report_status = refresh_status(record)
        await session.flush()
        return result

"""What an operator does with drift: roll it back (server-side apply of the Git state), adopt
it (write the live values into the Git file, commit, push) or ignore it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.adapters.git import GitClient
from awoooi.adapters.kube import ClusterReader, ClusterWriter
from awoooi.core.audit import Caller, Outcome, record_audit, record_refusal
from awoooi.core.db import utcnow
from awoooi.core.errors import AwoooiError, ForbiddenError, InvalidInputError
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
    """Rollback, adopt and ignore on saved reports; every decision audited, refused ones too."""

    def __init__(
        self,
        settings: DriftSettings,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        git: GitClient,
        cache_dir: Path,
        reader: ReaderProvider,
        writer: WriterProvider,
        cluster_context: str | None = None,
    ) -> None:
        self.settings = settings
        self._factory = session_factory
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

    async def _audited(
        self,
        session: AsyncSession,
        caller: Caller,
        action: str,
        report_id: int,
        decide_items: Callable[[], Awaitable[ActionResult]],
        **extra: object,
    ) -> ActionResult:
        """Run one decision and audit it: done, partly done, or refused (in a transaction of
        its own, since the caller's rolls back)."""
        try:
            result = await decide_items()
        except AwoooiError as exc:
            target = f"drift-report:{report_id}"
            await record_refusal(
                session, self._factory, caller, action=f"drift.{action}", target=target, error=exc
            )
            raise
        await record_audit(
            session,
            caller,
            action=f"drift.{result.action}",
            target=f"drift-report:{result.report_id}",
            outcome=Outcome.OK if result.ok else Outcome.PARTIAL,
            detail={
                "dry_run": result.dry_run,
                "items": {str(item.item_id): item.outcome for item in result.items},
                "commit": result.commit,
                "branch": result.branch,
                **extra,
            },
        )
        return result

    async def ignore(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        *,
        caller: Caller,
        reason: str,
        add_rule: bool = False,
    ) -> ActionResult:
        """Mark items IGNORED; `add_rule` also whitelists each field for later scans."""

        async def ignore_items() -> ActionResult:
            return await self._ignore(
                session, report_id, item_ids, actor=caller.actor, reason=reason, add_rule=add_rule
            )

        return await self._audited(
            session, caller, "ignore", report_id, ignore_items, add_rule=add_rule
        )

    async def _ignore(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        *,
        actor: str,
        reason: str,
        add_rule: bool,
    ) -> ActionResult:
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
        caller: Caller,
        dry_run: bool = False,
        force: bool = False,
        delete_extra: bool = False,
    ) -> ActionResult:
        """Apply the Git state of the chosen items' resources (a dry run first, always)."""

        async def run(
            record: DriftReportRecord, items: list[DriftItemRecord], result: ActionResult
        ) -> None:
            await self._rollback.run(
                record,
                items,
                result,
                reader=self._reader(),
                writer=self._writer(),
                actor=caller.actor,
                force=force,
                delete_extra=delete_extra,
            )

        async def roll_back() -> ActionResult:
            if not self.settings.rollback_enabled:
                raise ForbiddenError("rollback is turned off (drift.rollback_enabled: false)")
            return await self._act(session, report_id, item_ids, "rollback", dry_run, run)

        return await self._audited(
            session, caller, "rollback", report_id, roll_back, force=force, delete=delete_extra
        )

    async def adopt(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        *,
        caller: Caller,
        dry_run: bool = False,
    ) -> ActionResult:
        """Write the live values of the items into their Git files, commit and push."""

        async def run(
            record: DriftReportRecord, items: list[DriftItemRecord], result: ActionResult
        ) -> None:
            await self._adopt.run(record, items, result, actor=caller.actor, dry_run=dry_run)

        async def adopt_items() -> ActionResult:
            return await self._act(session, report_id, item_ids, "adopt", dry_run, run)

        return await self._audited(session, caller, "adopt", report_id, adopt_items)

    async def _act(
        self,
        session: AsyncSession,
        report_id: int,
        item_ids: Sequence[int],
        action: str,
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

"""The CLI's backend on the local database: each call is one transaction through the services,
answered in the API's response models (the same views the endpoints build)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from awoooi.ai.schemas import ProviderOut
from awoooi.api.schemas import JobOut, NotificationOut, TokenCreated, TokenOut
from awoooi.cli.backend import KnowledgeQuery
from awoooi.cli.context import check_database, cli_caller
from awoooi.core import auth, jobs
from awoooi.core.db import transaction
from awoooi.core.errors import ConfigError, NotFoundError
from awoooi.core.models import JobStatus, Role
from awoooi.database import Database
from awoooi.drift import repository as drift_reports
from awoooi.drift.report import DriftLevel, ReportStatus
from awoooi.drift.schemas import (
    ActionOut,
    AdoptRequest,
    DriftReportOut,
    DriftReportPage,
    DriftReportSummary,
    IgnoreRequest,
    RollbackRequest,
)
from awoooi.incidents import repository as incidents
from awoooi.incidents.models import IncidentStatus, Severity
from awoooi.incidents.schemas import IncidentDetail, IncidentPage
from awoooi.incidents.views import incident_detail, incident_out, parents_of
from awoooi.knowledge import search as kb_search
from awoooi.knowledge import service as knowledge
from awoooi.knowledge.schemas import EntryOut, SearchPage
from awoooi.knowledge.views import hit_from_entry
from awoooi.notify.repository import list_notifications
from awoooi.repair import repository as repairs
from awoooi.repair.models import Repair, RepairStatus
from awoooi.repair.playbooks import PlaybookError, load_catalog
from awoooi.repair.schemas import PlaybookOut, RepairOut, RepairPage

# The runtime (every subsystem: Kubernetes client, model router, channels; most of a second to
# import and build) is imported by the actions that use its services only: reads and plain
# writes open the database alone.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.runtime import Runtime
    from awoooi.settings import Settings

T = TypeVar("T")


class LocalBackend:
    """Answers from the database of these settings (created only when `create` allows it)."""

    def __init__(self, settings: Settings, *, create: bool) -> None:
        self.settings = settings
        self.create = create
        self._database: Database | None = None
        self._runtime: Runtime | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, *, create: bool) -> AsyncIterator[LocalBackend]:
        """A backend whose database or runtime (made on first use) is disposed of on the way
        out."""
        backend = cls(settings, create=create)
        try:
            yield backend
        finally:
            if backend._runtime is not None:
                await backend._runtime.dispose()
            if backend._database is not None:
                await backend._database.dispose()

    async def _migrated_database(self) -> Database:
        if self._database is None:
            check_database(self.settings, create=self.create)
            self._database = Database.from_settings(self.settings)
            await self._database.migrate()
        return self._database

    async def _migrated_runtime(self) -> Runtime:
        if self._runtime is None:
            from awoooi.runtime import Runtime

            check_database(self.settings, create=self.create)
            self._runtime = Runtime.from_settings(self.settings)
            await self._runtime.migrate()
        return self._runtime

    async def _in_transaction(self, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        database = await self._migrated_database()
        async with transaction(database.session_factory) as session:
            return await action(session)

    async def _with_services(self, action: Callable[[Runtime, AsyncSession], Awaitable[T]]) -> T:
        runtime = await self._migrated_runtime()
        async with transaction(runtime.session_factory) as session:
            return await action(runtime, session)

    # --- incidents ------------------------------------------------------------------------------

    async def incidents(
        self,
        *,
        status: IncidentStatus | None,
        severity: Severity | None,
        service: str | None,
        limit: int,
    ) -> IncidentPage:
        """Incidents, newest first."""

        async def action(session: AsyncSession) -> IncidentPage:
            items, total = await incidents.search(
                session,
                status=status.value if status else None,
                severity=severity.value if severity else None,
                service=service,
                since=None,
                limit=limit,
                offset=0,
            )
            parents = await parents_of(session, items)
            return IncidentPage(
                items=[
                    incident_out(item, parent=parents.get(item.parent_id or 0)) for item in items
                ],
                total=total,
                limit=limit,
                offset=0,
            )

        return await self._in_transaction(action)

    async def incident(self, incident_id: str) -> IncidentDetail:
        """One incident with its timeline and latest diagnosis."""
        return await self._in_transaction(lambda session: incident_detail(session, incident_id))

    # --- repairs --------------------------------------------------------------------------------

    @staticmethod
    async def _repair_out(session: AsyncSession, repair: Repair, *, with_steps: bool) -> RepairOut:
        incident = await incidents.get_by_id(session, repair.incident_id)
        human_id = incident.human_id if incident else str(repair.incident_id)
        steps = await repairs.steps_of(session, repair.id) if with_steps else None
        return RepairOut.of(repair, human_id, steps)

    async def repairs(self, *, status: RepairStatus | None, limit: int) -> RepairPage:
        """Repairs, newest first."""

        async def action(session: AsyncSession) -> RepairPage:
            items, total = await repairs.list_repairs(session, status=status, limit=limit)
            page = [await self._repair_out(session, item, with_steps=False) for item in items]
            return RepairPage(items=page, total=total, limit=limit, offset=0)

        return await self._in_transaction(action)

    async def repair(self, repair_id: int) -> RepairOut:
        """One repair with its steps."""

        async def action(session: AsyncSession) -> RepairOut:
            repair = await repairs.get(session, repair_id)
            if repair is None:
                raise NotFoundError(f"no repair {repair_id}")
            return await self._repair_out(session, repair, with_steps=True)

        return await self._in_transaction(action)

    async def approve_repair(self, repair_id: int, *, note: str | None) -> RepairOut:
        """Approve a waiting repair."""

        async def action(runtime: Runtime, session: AsyncSession) -> RepairOut:
            repair = await runtime.repairs.approve(
                session, repair_id, caller=cli_caller(), note=note
            )
            return await self._repair_out(session, repair, with_steps=True)

        return await self._with_services(action)

    async def reject_repair(self, repair_id: int, *, reason: str) -> RepairOut:
        """Reject a waiting repair."""

        async def action(runtime: Runtime, session: AsyncSession) -> RepairOut:
            repair = await runtime.repairs.reject(
                session, repair_id, caller=cli_caller(), reason=reason
            )
            return await self._repair_out(session, repair, with_steps=True)

        return await self._with_services(action)

    async def playbooks(self) -> list[PlaybookOut]:
        """The loaded playbooks, in the order they are tried (no database needed)."""
        try:
            catalog = load_catalog(self.settings.repair)
        except PlaybookError as exc:
            raise ConfigError(f"repair.playbooks_dir: {exc.detail}") from exc
        return [PlaybookOut.of(playbook) for playbook in catalog.playbooks]

    # --- jobs, tokens, notifications -----------------------------------------------------------

    async def jobs(self, *, status: JobStatus | None, limit: int) -> list[JobOut]:
        """Jobs, newest first."""

        async def action(session: AsyncSession) -> list[JobOut]:
            found = await jobs.list_jobs(session, status=status, limit=limit)
            return [JobOut.model_validate(job) for job in found]

        return await self._in_transaction(action)

    async def retry_job(self, job_id: int) -> JobOut:
        """Queue a dead job again."""

        async def action(session: AsyncSession) -> JobOut:
            job = await jobs.requeue_dead_job(session, job_id, caller=cli_caller())
            return JobOut.model_validate(job)

        return await self._in_transaction(action)

    async def tokens(self) -> list[TokenOut]:
        """Every token (never a secret)."""

        async def action(session: AsyncSession) -> list[TokenOut]:
            return [TokenOut.model_validate(token) for token in await auth.list_tokens(session)]

        return await self._in_transaction(action)

    async def create_token(self, *, name: str, role: Role) -> TokenCreated:
        """Create a token; its secret is in the answer only."""

        async def action(session: AsyncSession) -> TokenCreated:
            issued = await auth.issue_token(session, name=name, role=role, caller=cli_caller())
            shown = TokenOut.model_validate(issued.record).model_dump()
            return TokenCreated(**shown, token=issued.secret)

        return await self._in_transaction(action)

    async def revoke_token(self, name: str) -> TokenOut:
        """Revoke a token."""

        async def action(session: AsyncSession) -> TokenOut:
            record = await auth.revoke_token(session, name=name, caller=cli_caller())
            return TokenOut.model_validate(record)

        return await self._in_transaction(action)

    async def notifications(self, *, limit: int) -> list[NotificationOut]:
        """Recent notifications with their delivery state."""

        async def action(session: AsyncSession) -> list[NotificationOut]:
            found = await list_notifications(session, limit=limit)
            return [NotificationOut.model_validate(record) for record in found]

        return await self._in_transaction(action)

    # --- knowledge ------------------------------------------------------------------------------

    async def knowledge(self, query: KnowledgeQuery) -> SearchPage:
        """Ranked search when there is a query, else the most recently changed entries."""
        filters = kb_search.Filters(
            entry_type=query.entry_type.value if query.entry_type else None,
            status=query.status.value if query.status else None,
            tag=query.tag,
        )

        async def action(session: AsyncSession) -> SearchPage:
            if query.query and kb_search.query_terms(query.query):
                hits, total = await kb_search.search(
                    session, query.query, filters, limit=query.limit, offset=0
                )
                items = [hit_from_entry(hit.entry, hit.snippet, hit.rank) for hit in hits]
            else:
                entries, total = await kb_search.list_entries(
                    session, filters, limit=query.limit, offset=0
                )
                items = [hit_from_entry(entry) for entry in entries]
            return SearchPage(items=items, total=total, limit=query.limit, offset=0)

        return await self._in_transaction(action)

    async def entry(self, entry_id: int) -> EntryOut:
        """One entry."""

        async def action(session: AsyncSession) -> EntryOut:
            return EntryOut.model_validate(await knowledge.get_entry(session, entry_id))

        return await self._in_transaction(action)

    async def approve_entry(self, entry_id: int, *, note: str | None) -> EntryOut:
        """Publish a draft."""

        async def action(session: AsyncSession) -> EntryOut:
            entry = await knowledge.approve_entry(session, entry_id, caller=cli_caller(), note=note)
            return EntryOut.model_validate(entry)

        return await self._in_transaction(action)

    async def reject_entry(self, entry_id: int, *, reason: str) -> EntryOut:
        """Reject a draft."""

        async def action(session: AsyncSession) -> EntryOut:
            entry = await knowledge.reject_entry(
                session, entry_id, caller=cli_caller(), reason=reason
            )
            return EntryOut.model_validate(entry)

        return await self._in_transaction(action)

    # --- drift ----------------------------------------------------------------------------------

    async def drift_reports(
        self, *, status: ReportStatus | None, level: DriftLevel | None, limit: int
    ) -> DriftReportPage:
        """Saved reports, newest first."""

        async def action(session: AsyncSession) -> DriftReportPage:
            records, total = await drift_reports.list_reports(
                session, status=status, level=level, limit=limit
            )
            counts = await drift_reports.level_counts(session, [record.id for record in records])
            return DriftReportPage(
                items=[DriftReportSummary.of(record, counts[record.id]) for record in records],
                total=total,
                limit=limit,
                offset=0,
            )

        return await self._in_transaction(action)

    async def drift_report(self, report_id: int, *, show_ignored: bool) -> DriftReportOut:
        """One report with its items and problems."""

        async def action(session: AsyncSession) -> DriftReportOut:
            record = await drift_reports.get_report(session, report_id)
            if record is None:
                raise NotFoundError(f"no drift report {report_id}")
            items = [item for item in record.items if show_ignored or not item.ignored]
            return DriftReportOut.full(record, items)

        return await self._in_transaction(action)

    async def drift_rollback(self, request: RollbackRequest) -> ActionOut:
        """Put Git's state back on the items' resources."""

        async def action(runtime: Runtime, session: AsyncSession) -> ActionOut:
            result = await runtime.drift.rollback(
                session,
                request.report_id,
                request.item_ids,
                caller=cli_caller(),
                dry_run=request.dry_run,
                force=request.force,
                delete_extra=request.delete_extra,
            )
            return ActionOut.model_validate(result.to_json())

        return await self._with_services(action)

    async def drift_adopt(self, request: AdoptRequest) -> ActionOut:
        """Write the items' live values into Git."""

        async def action(runtime: Runtime, session: AsyncSession) -> ActionOut:
            result = await runtime.drift.adopt(
                session,
                request.report_id,
                request.item_ids,
                caller=cli_caller(),
                dry_run=request.dry_run,
            )
            return ActionOut.model_validate(result.to_json())

        return await self._with_services(action)

    async def drift_ignore(self, request: IgnoreRequest) -> ActionOut:
        """Accept items as they are."""

        async def action(runtime: Runtime, session: AsyncSession) -> ActionOut:
            result = await runtime.drift.ignore(
                session,
                request.report_id,
                request.item_ids,
                caller=cli_caller(),
                reason=request.reason,
                add_rule=request.add_rule,
            )
            return ActionOut.model_validate(result.to_json())

        return await self._with_services(action)

    # --- ai -------------------------------------------------------------------------------------

    async def providers(self) -> list[ProviderOut]:
        """Providers with locality and breaker state (read from the database)."""
        runtime = await self._migrated_runtime()
        return [
            ProviderOut(
                name=p.name,
                kind=p.kind,
                model=p.model,
                base_url=p.base_url,
                local=p.local,
                breaker=p.breaker.value,
            )
            for p in await runtime.ai.providers()
        ]

"""The CLI's one seam to awoooi: the local database (through the services) or a server's HTTP
API. Both answer with the API's own response models, so a command prints the same either way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import typer

from awoooi.cli.context import CliState, fail, run

if TYPE_CHECKING:
    from awoooi.ai.schemas import ProviderOut
    from awoooi.api.schemas import JobOut, NotificationOut, TokenCreated, TokenOut
    from awoooi.core.models import JobStatus, Role
    from awoooi.drift.report import DriftLevel, ReportStatus
    from awoooi.drift.schemas import (
        ActionOut,
        AdoptRequest,
        DriftReportOut,
        DriftReportPage,
        IgnoreRequest,
        RollbackRequest,
    )
    from awoooi.incidents.models import IncidentStatus, Severity
    from awoooi.incidents.schemas import IncidentDetail, IncidentPage
    from awoooi.knowledge.models import EntryStatus, EntryType
    from awoooi.knowledge.schemas import EntryOut, SearchPage
    from awoooi.repair.models import RepairStatus
    from awoooi.repair.schemas import PlaybookOut, RepairOut, RepairPage

T = TypeVar("T")


@dataclass(frozen=True)
class KnowledgeQuery:
    """What `kb list` and `kb search` ask for: a query (None lists) and filters."""

    query: str | None = None
    entry_type: EntryType | None = None
    status: EntryStatus | None = None
    tag: str | None = None
    limit: int = 50


class Backend(Protocol):
    """What the CLI's read and action commands ask of awoooi, answered in the API's shapes."""

    async def incidents(
        self,
        *,
        status: IncidentStatus | None,
        severity: Severity | None,
        service: str | None,
        limit: int,
    ) -> IncidentPage: ...

    async def incident(self, incident_id: str) -> IncidentDetail: ...

    async def repairs(self, *, status: RepairStatus | None, limit: int) -> RepairPage: ...

    async def repair(self, repair_id: int) -> RepairOut: ...

    async def approve_repair(self, repair_id: int, *, note: str | None) -> RepairOut: ...

    async def reject_repair(self, repair_id: int, *, reason: str) -> RepairOut: ...

    async def playbooks(self) -> list[PlaybookOut]: ...

    async def jobs(self, *, status: JobStatus | None, limit: int) -> list[JobOut]: ...

    async def retry_job(self, job_id: int) -> JobOut: ...

    async def tokens(self) -> list[TokenOut]: ...

    async def create_token(self, *, name: str, role: Role) -> TokenCreated: ...

    async def revoke_token(self, name: str) -> TokenOut: ...

    async def notifications(self, *, limit: int) -> list[NotificationOut]: ...

    async def knowledge(self, query: KnowledgeQuery) -> SearchPage: ...

    async def entry(self, entry_id: int) -> EntryOut: ...

    async def approve_entry(self, entry_id: int, *, note: str | None) -> EntryOut: ...

    async def reject_entry(self, entry_id: int, *, reason: str) -> EntryOut: ...

    async def drift_reports(
        self, *, status: ReportStatus | None, level: DriftLevel | None, limit: int
    ) -> DriftReportPage: ...

    async def drift_report(self, report_id: int, *, show_ignored: bool) -> DriftReportOut: ...

    async def drift_rollback(self, request: RollbackRequest) -> ActionOut: ...

    async def drift_adopt(self, request: AdoptRequest) -> ActionOut: ...

    async def drift_ignore(self, request: IgnoreRequest) -> ActionOut: ...

    async def providers(self) -> list[ProviderOut]: ...


def with_backend(ctx: typer.Context, action: Callable[[Backend], Awaitable[T]]) -> T:
    """Run `action` against the server given by --server / AWOOOI_SERVER, else the local
    database; expected errors (the server's included) become a message and exit code 1."""
    state: CliState = ctx.find_root().obj or CliState()
    if state.server:
        if not state.token:
            raise fail("--server needs a token: give --token or set AWOOOI_TOKEN")
        from awoooi.cli.remote import RemoteBackend

        async def remote() -> T:
            async with RemoteBackend.connect(state.server or "", state.token or "") as backend:
                return await action(backend)

        return run(remote())
    from awoooi.cli.context import settings_from
    from awoooi.cli.local import LocalBackend

    settings = settings_from(ctx)

    async def local() -> T:
        async with LocalBackend.open(settings, create=state.yes) as backend:
            return await action(backend)

    return run(local())

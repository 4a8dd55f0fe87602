"""The CLI's backend on a running awoooi: the /api/v1 endpoints over HTTP with a bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from awoooi.ai.schemas import ProviderOut
from awoooi.api.schemas import JobOut, NotificationOut, TokenCreated, TokenOut
from awoooi.cli.backend import KnowledgeQuery
from awoooi.core.errors import AwoooiError
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
from awoooi.knowledge.schemas import EntryOut, SearchPage
from awoooi.repair.models import RepairStatus
from awoooi.repair.schemas import PlaybookOut, RepairOut, RepairPage

M = TypeVar("M", bound=BaseModel)
TIMEOUT_SECONDS = 60.0  # a repair or rollback answers when it has run


class ServerError(AwoooiError):
    """The server refused the request, or could not be reached; `detail` is its message."""

    def __init__(self, detail: str, *, status_code: int = 0, code: str = "server_error") -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code


def _message(detail: Any) -> str:
    """The server's `detail` as one line (validation errors list each field)."""
    if isinstance(detail, list):
        parts = []
        for problem in detail:
            if isinstance(problem, dict):
                where = ".".join(str(part) for part in problem.get("loc", []) if part != "body")
                parts.append(f"{where}: {problem.get('msg', '')}" if where else problem.get("msg"))
            else:
                parts.append(str(problem))
        return "; ".join(str(part) for part in parts)
    return str(detail)


def _known_fields(model: type[BaseModel], data: Any) -> Any:
    # A newer server may add fields; the API's models forbid unknown ones on input.
    if isinstance(data, dict):
        return {key: value for key, value in data.items() if key in model.model_fields}
    return data


def _params(**values: Any) -> dict[str, Any]:
    return {
        key: value.value if isinstance(value, Enum) else value
        for key, value in values.items()
        if value is not None
    }


class RemoteBackend:
    """Answers from a server's API; its `{"error", "detail"}` answers raise ServerError."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    @asynccontextmanager
    async def connect(cls, server: str, token: str) -> AsyncIterator[RemoteBackend]:
        """A backend on `server` (its base URL) with a bearer token, closed on the way out."""
        base = server.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ServerError(f"--server must be an http:// or https:// URL, got {server!r}")
        async with httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        ) as client:
            yield cls(client)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.request(method, "/api/v1" + path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(
                f"cannot reach the server at {self._client.base_url}: {exc or type(exc).__name__}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            if isinstance(body, dict) and ("detail" in body or "error" in body):
                raise ServerError(
                    _message(body.get("detail") or body.get("error")),
                    status_code=response.status_code,
                    code=str(body.get("error", "server_error")),
                )
            raise ServerError(
                f"the server answered {response.status_code} {response.reason_phrase}",
                status_code=response.status_code,
            )
        if body is None and response.content:
            raise ServerError(f"the server's answer to {method} {path} is not JSON")
        return body

    async def _one(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        data = await self._call(method, path, **kwargs)
        try:
            return model.model_validate(_known_fields(model, data))
        except ValidationError as exc:
            raise ServerError(f"unexpected answer to {method} {path}: {exc}") from None

    async def _many(self, model: type[M], path: str, **kwargs: Any) -> list[M]:
        data = await self._call("GET", path, **kwargs)
        if not isinstance(data, list):
            raise ServerError(f"unexpected answer to GET {path}: not a list")
        try:
            return TypeAdapter(list[model]).validate_python(  # type: ignore[valid-type]
                [_known_fields(model, item) for item in data]
            )
        except ValidationError as exc:
            raise ServerError(f"unexpected answer to GET {path}: {exc}") from None

    # --- incidents and repairs -----------------------------------------------------------------

    async def incidents(
        self,
        *,
        status: IncidentStatus | None,
        severity: Severity | None,
        service: str | None,
        limit: int,
    ) -> IncidentPage:
        """GET /incidents."""
        params = _params(status=status, severity=severity, service=service, limit=limit)
        return await self._one(IncidentPage, "GET", "/incidents", params=params)

    async def incident(self, incident_id: str) -> IncidentDetail:
        """GET /incidents/{id}."""
        return await self._one(IncidentDetail, "GET", f"/incidents/{_segment(incident_id)}")

    async def repairs(self, *, status: RepairStatus | None, limit: int) -> RepairPage:
        """GET /repairs."""
        params = _params(status=status, limit=limit)
        return await self._one(RepairPage, "GET", "/repairs", params=params)

    async def repair(self, repair_id: int) -> RepairOut:
        """GET /repairs/{id}."""
        return await self._one(RepairOut, "GET", f"/repairs/{repair_id}")

    async def approve_repair(self, repair_id: int, *, note: str | None) -> RepairOut:
        """POST /repairs/{id}/approve."""
        path = f"/repairs/{repair_id}/approve"
        return await self._one(RepairOut, "POST", path, json={"note": note})

    async def reject_repair(self, repair_id: int, *, reason: str) -> RepairOut:
        """POST /repairs/{id}/reject."""
        path = f"/repairs/{repair_id}/reject"
        return await self._one(RepairOut, "POST", path, json={"reason": reason})

    async def playbooks(self) -> list[PlaybookOut]:
        """GET /playbooks."""
        return await self._many(PlaybookOut, "/playbooks")

    # --- jobs, tokens, notifications -----------------------------------------------------------

    async def jobs(self, *, status: JobStatus | None, limit: int) -> list[JobOut]:
        """GET /jobs."""
        return await self._many(JobOut, "/jobs", params=_params(status=status, limit=limit))

    async def retry_job(self, job_id: int) -> JobOut:
        """POST /jobs/{id}/retry."""
        return await self._one(JobOut, "POST", f"/jobs/{job_id}/retry")

    async def tokens(self) -> list[TokenOut]:
        """GET /tokens."""
        return await self._many(TokenOut, "/tokens")

    async def create_token(self, *, name: str, role: Role) -> TokenCreated:
        """POST /tokens."""
        body = {"name": name, "role": role.value}
        return await self._one(TokenCreated, "POST", "/tokens", json=body)

    async def revoke_token(self, name: str) -> TokenOut:
        """DELETE /tokens/{name}."""
        return await self._one(TokenOut, "DELETE", f"/tokens/{_segment(name)}")

    async def notifications(self, *, limit: int) -> list[NotificationOut]:
        """GET /notifications."""
        return await self._many(NotificationOut, "/notifications", params={"limit": limit})

    # --- knowledge ------------------------------------------------------------------------------

    async def knowledge(self, query: KnowledgeQuery) -> SearchPage:
        """GET /knowledge (ranked search with `q`)."""
        params = _params(
            q=query.query,
            type=query.entry_type,
            status=query.status,
            tag=query.tag,
            limit=query.limit,
        )
        return await self._one(SearchPage, "GET", "/knowledge", params=params)

    async def entry(self, entry_id: int) -> EntryOut:
        """GET /knowledge/{id}."""
        return await self._one(EntryOut, "GET", f"/knowledge/{entry_id}")

    async def approve_entry(self, entry_id: int, *, note: str | None) -> EntryOut:
        """POST /knowledge/{id}/approve."""
        path = f"/knowledge/{entry_id}/approve"
        return await self._one(EntryOut, "POST", path, json={"note": note})

    async def reject_entry(self, entry_id: int, *, reason: str) -> EntryOut:
        """POST /knowledge/{id}/reject."""
        path = f"/knowledge/{entry_id}/reject"
        return await self._one(EntryOut, "POST", path, json={"reason": reason})

    # --- drift ----------------------------------------------------------------------------------

    async def drift_reports(
        self, *, status: ReportStatus | None, level: DriftLevel | None, limit: int
    ) -> DriftReportPage:
        """GET /drift/reports."""
        params = _params(status=status, level=level, limit=limit)
        return await self._one(DriftReportPage, "GET", "/drift/reports", params=params)

    async def drift_report(self, report_id: int, *, show_ignored: bool) -> DriftReportOut:
        """GET /drift/reports/{id}."""
        params = {"show_ignored": "true" if show_ignored else "false"}
        path = f"/drift/reports/{report_id}"
        return await self._one(DriftReportOut, "GET", path, params=params)

    async def drift_rollback(self, request: RollbackRequest) -> ActionOut:
        """POST /drift/rollback."""
        body = request.model_dump(mode="json")
        return await self._one(ActionOut, "POST", "/drift/rollback", json=body)

    async def drift_adopt(self, request: AdoptRequest) -> ActionOut:
        """POST /drift/adopt."""
        body = request.model_dump(mode="json")
        return await self._one(ActionOut, "POST", "/drift/adopt", json=body)

    async def drift_ignore(self, request: IgnoreRequest) -> ActionOut:
        """POST /drift/ignore."""
        body = request.model_dump(mode="json")
        return await self._one(ActionOut, "POST", "/drift/ignore", json=body)

    # --- ai -------------------------------------------------------------------------------------

    async def providers(self) -> list[ProviderOut]:
        """GET /ai/providers."""
        return await self._many(ProviderOut, "/ai/providers")


def _segment(value: str) -> str:
    """A path segment with everything but unreserved characters escaped."""
    from urllib.parse import quote

    return quote(value, safe="")

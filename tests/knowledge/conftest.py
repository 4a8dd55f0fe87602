"""Fixtures for knowledge tests: tokens per role, entries made by the service.

Databases come from tests/conftest.py like everywhere else: both kinds, and a copy of a database
migrated once per worker for every test that starts a `runtime`.
"""

from __future__ import annotations

from typing import Any

import pytest

from awoooi.core.audit import Caller, Door
from awoooi.core.db import transaction
from awoooi.core.models import Role
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.runtime import Runtime
from tests.incidents import conftest as incident_fixtures
from tests.incidents.conftest import TokenFactory

headers_for = incident_fixtures.headers_for

BASE = "/api/v1/knowledge"


@pytest.fixture
async def operator(headers_for: TokenFactory) -> dict[str, str]:
    """Authorization headers of an operator token."""
    return await headers_for(Role.OPERATOR)


@pytest.fixture
async def viewer(headers_for: TokenFactory) -> dict[str, str]:
    """Authorization headers of a viewer token."""
    return await headers_for(Role.VIEWER)


async def add_entry(runtime: Runtime, **values: Any) -> KnowledgeEntry:
    """Create an entry through the service (defaults: a MANUAL RUNBOOK in DRAFT), committed."""
    fields: dict[str, Any] = {
        "title": "An entry",
        "content": "Some content.",
        "entry_type": EntryType.RUNBOOK,
        "source": EntrySource.MANUAL,
        "status": EntryStatus.DRAFT,
        "created_by": "test",
        **values,
    }
    async with transaction(runtime.session_factory) as session:
        return await service.create_entry(session, service.NewEntry(**fields))


def person(name: str) -> Caller:
    """A person deciding through the CLI, as the services audit them."""
    return Caller(name, Door.CLI)

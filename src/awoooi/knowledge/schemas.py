"""Knowledge API bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from awoooi.core.inputs import Text
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType

MAX_CONTENT_CHARS = 512 * 1024


Tag = Annotated[Text, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
SymptomsHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


class EntryCreate(BaseModel):
    """A new entry written by a person (or imported)."""

    model_config = ConfigDict(extra="forbid")

    title: Text = Field(min_length=1, max_length=300)
    content: Text = Field(max_length=MAX_CONTENT_CHARS)
    entry_type: EntryType = EntryType.RUNBOOK
    category: Text | None = Field(None, max_length=64)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    services: list[Tag] = Field(default_factory=list, max_length=50)
    related_incident_id: Text | None = Field(None, max_length=32)
    related_playbook_id: Text | None = Field(None, max_length=64)
    symptoms_hash: SymptomsHash | None = None
    status: EntryStatus = EntryStatus.DRAFT


class EntryUpdate(BaseModel):
    """An edit: given fields replace the current ones and the version goes up."""

    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(None, min_length=1, max_length=300)
    content: Text | None = Field(None, max_length=MAX_CONTENT_CHARS)
    category: Text | None = Field(None, max_length=64)
    tags: list[Tag] | None = Field(None, max_length=50)
    services: list[Tag] | None = Field(None, max_length=50)


class ReviewDecision(BaseModel):
    """Approve (note optional) or reject (reason required)."""

    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(None, max_length=4000)


class RejectDecision(BaseModel):
    """A rejection and its reason."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=4000)


class EntryOut(BaseModel):
    """An entry as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    uid: str
    title: str
    content: str
    entry_type: EntryType
    category: str | None
    tags: list[str]
    services: list[str]
    source: EntrySource
    status: EntryStatus
    related_incident_id: str | None
    related_playbook_id: str | None
    symptoms_hash: str | None
    created_by: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    version: int
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SearchHit(BaseModel):
    """A search result: the entry (without its full content), a snippet and the rank."""

    id: int
    uid: str
    title: str
    entry_type: EntryType
    status: EntryStatus
    tags: list[str]
    services: list[str]
    symptoms_hash: str | None
    snippet: str
    rank: float
    updated_at: datetime


class SearchPage(BaseModel):
    """Search or list results."""

    items: list[SearchHit]
    total: int
    limit: int
    offset: int

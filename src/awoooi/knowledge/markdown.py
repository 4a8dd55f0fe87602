"""Knowledge entries as Markdown files with YAML front matter, for export and import.

A file looks like::

    ---
    uid: 3f2b8c1e-...
    title: Restart a stuck worker
    entry_type: RUNBOOK
    status: PUBLISHED
    tags: [worker]
    ...
    ---
    The Markdown content, verbatim.

The front matter is read with ``yaml.safe_load`` and validated; `uid` is the stable id that
import matches on. Export always ends the file with one newline after the content and import
drops exactly one trailing newline, so content survives a round trip byte for byte (and an editor
that adds the final newline changes nothing).

File handling is defensive: names are built from safe characters only, writes never leave the
target directory and never go through a symlink, reads skip symlinks and non-``.md`` files and
refuse files larger than `MAX_FILE_BYTES`.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from awoooi.core.errors import InvalidInputError
from awoooi.knowledge.models import EntryStatus, EntryType, KnowledgeEntry
from awoooi.knowledge.schemas import MAX_CONTENT_CHARS, SymptomsHash, Tag

__all__ = [
    "FRONT_MATTER_FIELDS",
    "MAX_FILE_BYTES",
    "KnowledgeFileError",
    "ParsedEntry",
    "SkippedFile",
    "entry_filename",
    "entry_to_markdown",
    "iter_markdown_files",
    "parse_markdown",
    "read_markdown_file",
    "slugify",
    "write_markdown_file",
]

# The largest content (512 Ki characters) is up to 2 MiB of UTF-8; leave room for front matter.
MAX_FILE_BYTES = 4 * MAX_CONTENT_CHARS + 64 * 1024
MAX_SLUG_CHARS = 60

FRONT_MATTER_FIELDS = (
    "uid",
    "title",
    "entry_type",
    "status",
    "category",
    "tags",
    "services",
    "source",
    "related_incident_id",
    "related_playbook_id",
    "symptoms_hash",
    "version",
    "created_by",
    "reviewed_by",
    "reviewed_at",
    "published_at",
    "updated_at",
)

_DELIMITER = "---"
_UID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$"
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.md$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class KnowledgeFileError(InvalidInputError):
    """A knowledge file that cannot be read, parsed or written; the message names the file."""


class _FrontMatter(BaseModel):
    """The front matter as a file may hold it; unknown keys are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    uid: Annotated[str, StringConstraints(pattern=_UID)]
    title: str = Field(min_length=1, max_length=300)
    entry_type: EntryType = EntryType.RUNBOOK
    status: EntryStatus = EntryStatus.DRAFT
    category: str | None = Field(None, max_length=64)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    services: list[Tag] = Field(default_factory=list, max_length=50)
    # Informational: where the entry came from and its history in the exporting database.
    source: str | None = Field(None, max_length=16)
    related_incident_id: str | None = Field(None, max_length=32)
    related_playbook_id: str | None = Field(None, max_length=64)
    symptoms_hash: SymptomsHash | None = None
    version: int | None = Field(None, ge=1)
    created_by: str | None = Field(None, max_length=128)
    reviewed_by: str | None = Field(None, max_length=128)
    reviewed_at: datetime | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


@dataclass(frozen=True)
class ParsedEntry:
    """One knowledge file, validated; `origin` names the file in messages."""

    origin: str
    uid: str
    title: str
    content: str
    entry_type: EntryType
    status: EntryStatus
    category: str | None
    tags: tuple[str, ...]
    services: tuple[str, ...]
    source: str | None
    related_incident_id: str | None
    related_playbook_id: str | None
    symptoms_hash: str | None
    version: int | None
    created_by: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    published_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class SkippedFile:
    """A directory entry that import passes over, with a warning."""

    path: Path
    reason: str


# --- rendering ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def entry_to_markdown(entry: KnowledgeEntry) -> str:
    """The entry as a Markdown file: YAML front matter, then the content and one newline."""
    front: dict[str, Any] = {
        "uid": entry.uid,
        "title": entry.title,
        # The safe dumper writes plain strings only, not the enum members the model holds.
        "entry_type": str(entry.entry_type),
        "status": str(entry.status),
        "category": entry.category,
        "tags": list(entry.tags),
        "services": list(entry.services),
        "source": str(entry.source),
        "related_incident_id": entry.related_incident_id,
        "related_playbook_id": entry.related_playbook_id,
        "symptoms_hash": entry.symptoms_hash,
        "version": entry.version,
        "created_by": entry.created_by,
        "reviewed_by": entry.reviewed_by,
        "reviewed_at": _iso(entry.reviewed_at),
        "published_at": _iso(entry.published_at),
        "updated_at": _iso(entry.updated_at),
    }
    dumped = yaml.safe_dump(
        front, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    return f"{_DELIMITER}\n{dumped}{_DELIMITER}\n{entry.content}\n"


# --- parsing ------------------------------------------------------------------------------------


def _is_delimiter(line: str) -> bool:
    return line.rstrip("\r\n").rstrip(" \t") == _DELIMITER


def _split(text: str, origin: str) -> tuple[str, str]:
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)
    if not lines or not _is_delimiter(lines[0]):
        raise KnowledgeFileError(f"{origin}: missing front matter (the file must start with '---')")
    for index in range(1, len(lines)):
        if _is_delimiter(lines[index]):
            front = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            return front, body
    raise KnowledgeFileError(f"{origin}: front matter is not closed (no second '---' line)")


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "front matter"
        if item["type"] == "missing":
            problems.append(f"field {field!r} is required")
        elif item["type"] == "extra_forbidden":
            problems.append(f"unknown field {field!r}")
        else:
            problems.append(f"field {field!r}: {item['msg']}")
    return "; ".join(problems)


def parse_markdown(text: str, *, origin: str) -> ParsedEntry:
    """Parse and validate one file's text; KnowledgeFileError names `origin` and the problem."""
    front_text, body = _split(text, origin)
    try:
        front = yaml.safe_load(front_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise KnowledgeFileError(f"{origin}: broken YAML front matter{where}: {problem}") from None
    if front is None:
        front = {}
    if not isinstance(front, dict):
        raise KnowledgeFileError(f"{origin}: front matter must be a mapping of fields")
    try:
        meta = _FrontMatter.model_validate(front)
    except ValidationError as exc:
        raise KnowledgeFileError(f"{origin}: {_describe(exc)}") from None
    content = body[:-1] if body.endswith("\n") else body
    if len(content) > MAX_CONTENT_CHARS:
        raise KnowledgeFileError(f"{origin}: content is longer than {MAX_CONTENT_CHARS} characters")
    return ParsedEntry(
        origin=origin,
        uid=meta.uid,
        title=meta.title,
        content=content,
        entry_type=meta.entry_type,
        status=meta.status,
        category=meta.category,
        tags=tuple(meta.tags),
        services=tuple(meta.services),
        source=meta.source,
        related_incident_id=meta.related_incident_id,
        related_playbook_id=meta.related_playbook_id,
        symptoms_hash=meta.symptoms_hash,
        version=meta.version,
        created_by=meta.created_by,
        reviewed_by=meta.reviewed_by,
        reviewed_at=meta.reviewed_at,
        published_at=meta.published_at,
        updated_at=meta.updated_at,
    )


# --- file names and files -----------------------------------------------------------------------


def slugify(text: str, *, max_chars: int = MAX_SLUG_CHARS) -> str:
    """Lowercase ASCII letters, digits and single dashes only; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    slug = slug[:max_chars].rstrip("-")
    return slug or "entry"


def entry_filename(title: str, uid: str) -> str:
    """`<slug-of-title>-<uid[:8]>.md`, made of safe characters only."""
    return f"{slugify(title)}-{slugify(uid[:8], max_chars=8)}.md"


def _checked_target(root: Path, name: str) -> Path:
    if not _SAFE_NAME.fullmatch(name):
        raise KnowledgeFileError(f"{name}: unsafe file name")
    target = root / name
    if target.parent != root or Path(os.path.abspath(target)).parent != root:
        raise KnowledgeFileError(f"{name}: would be written outside {root}")
    if target.is_symlink():
        raise KnowledgeFileError(f"{target}: is a symlink; refusing to write through it")
    if target.exists() and not target.is_file():
        raise KnowledgeFileError(f"{target}: exists and is not a regular file")
    return target


def write_markdown_file(directory: Path, name: str, text: str) -> Path:
    """Write `text` to `directory/name` atomically, never outside `directory` or via a symlink."""
    root = directory.resolve()
    target = _checked_target(root, name)
    temporary = root / f".{name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(temporary, flags, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        # os.replace swaps the directory entry itself; it never follows a link at the target.
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise KnowledgeFileError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return target


def read_markdown_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A file's text, refusing symlinks, non-regular files, oversized and non-UTF-8 files."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise KnowledgeFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KnowledgeFileError(f"{path}: not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise KnowledgeFileError(f"{path}: larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise KnowledgeFileError(f"{path}: not UTF-8 text") from None


def iter_markdown_files(directory: Path) -> Iterator[Path | SkippedFile]:
    """The `.md` files directly in `directory`, sorted by name; symlinks and others as skips."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise KnowledgeFileError(f"{directory}: cannot list: {exc.strerror or exc}") from None
    for name in names:
        path = directory / name
        if not name.lower().endswith(".md"):
            continue
        if path.is_symlink():
            yield SkippedFile(path, "is a symlink; skipped")
        elif not path.is_file():
            yield SkippedFile(path, "is not a regular file; skipped")
        else:
            yield path

"""`awoooi kb`: list, search, show, review, export and import knowledge entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.cli.backend import KnowledgeQuery, with_backend
from awoooi.cli.context import (
    MAX_ID,
    cli_actor,
    cli_caller,
    cli_state,
    err_console,
    fail,
    local_only,
    out_console,
    settings_from,
    with_database,
)
from awoooi.cli.output import FormatOption, print_json, table, when
from awoooi.core.db import transaction
from awoooi.core.errors import AwoooiError
from awoooi.core.redact import redact
from awoooi.knowledge import search as kb_search
from awoooi.knowledge import service
from awoooi.knowledge.markdown import (
    KnowledgeFileError,
    ParsedEntry,
    SkippedFile,
    entry_filename,
    entry_to_markdown,
    iter_markdown_files,
    parse_markdown,
    read_markdown_file,
    slugify,
    write_markdown_file,
)
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.knowledge.schemas import EntryOut, SearchHit, SearchPage

if TYPE_CHECKING:
    from awoooi.database import Database

app = typer.Typer(
    help="Knowledge base: runbooks, anti-patterns, postmortems.", no_args_is_help=True
)

EXPORT_PAGE = 200
_IMPORTABLE = {EntryStatus.DRAFT, EntryStatus.PUBLISHED}

EntryId = Annotated[int, typer.Argument(help="Entry id (the integer id).", min=1, max=MAX_ID)]
TypeOption = Annotated[EntryType | None, typer.Option("--type", help="Only this entry type.")]
StatusOption = Annotated[EntryStatus | None, typer.Option("--status", help="Only this status.")]


def _warn(message: str) -> None:
    err_console.print(Text.assemble(("warning: ", "bold yellow"), message))


def _error(message: str) -> None:
    err_console.print(Text.assemble(("error: ", "bold red"), message))


# --- reading ------------------------------------------------------------------------------------


def _knowledge(ctx: typer.Context, query: KnowledgeQuery) -> SearchPage:
    page: SearchPage = with_backend(ctx, lambda backend: backend.knowledge(query))
    return page


def relevance(hits: list[SearchHit]) -> list[str]:
    """Each hit's score as a percentage of the best hit's rank ("-" when there is none)."""
    # Raw ranks do not read as scores: SQLite's bm25 is near 0 for every hit of a small
    # knowledge base (a word in most entries weighs ~nothing), PostgreSQL's ts_rank_cd is on
    # another scale entirely. Relative to the best hit they say the same thing on both.
    best = max((hit.rank for hit in hits), default=0.0)
    if best <= 0:
        return ["-" for _ in hits]
    return [str(round(100 * max(hit.rank, 0.0) / best)) for hit in hits]


@app.command("list")
def list_(
    ctx: typer.Context,
    entry_type: TypeOption = None,
    status: StatusOption = None,
    tag: Annotated[str | None, typer.Option(help="Only entries with this tag.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    output: FormatOption = "table",
) -> None:
    """List entries, most recently changed first."""
    page = _knowledge(
        ctx, KnowledgeQuery(entry_type=entry_type, status=status, tag=tag, limit=limit)
    )
    if output == "json":
        print_json(page)
        return
    shown = table("id", "type", "status", "tags", "updated", "title", optional=("tags", "updated"))
    for entry in page.items:
        shown.add_row(
            str(entry.id),
            entry.entry_type,
            entry.status,
            Text(",".join(entry.tags)),
            when(entry.updated_at),
            Text(entry.title[:70]),
        )
    out_console.print(shown)
    out_console.print(f"{len(page.items)} of {page.total}", highlight=False)


@app.command("search")
def search_(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to look for (all of them must match).")],
    entry_type: TypeOption = None,
    status: StatusOption = None,
    tag: Annotated[str | None, typer.Option(help="Only entries with this tag.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    output: FormatOption = "table",
) -> None:
    """Full-text search, best match first, with a snippet of the matching text and a score
    (100 for the best match, the others relative to it)."""
    page = _knowledge(
        ctx,
        KnowledgeQuery(query=query, entry_type=entry_type, status=status, tag=tag, limit=limit),
    )
    if output == "json":
        print_json(page)
        return
    shown = table(
        "id",
        "score",
        "type",
        "status",
        "title",
        "snippet",
        whole=("score",),
        optional=("type", "status"),
    )
    for hit, score in zip(page.items, relevance(page.items), strict=True):
        shown.add_row(
            str(hit.id),
            score,
            hit.entry_type,
            hit.status,
            Text(hit.title[:60]),
            Text(" ".join(hit.snippet.split())),
        )
    out_console.print(shown)
    out_console.print(f"{len(page.items)} of {page.total} matches", highlight=False)


@app.command()
def show(ctx: typer.Context, entry_id: EntryId, output: FormatOption = "table") -> None:
    """Show one entry: its metadata, then its content."""
    entry: EntryOut = with_backend(ctx, lambda backend: backend.entry(entry_id))
    if output == "json":
        print_json(entry)
        return
    out_console.print(Text.assemble((f"#{entry.id} ", "bold"), entry.title))
    seconds = "%Y-%m-%d %H:%M:%S"
    for label, value in (
        ("uid", entry.uid),
        ("type", entry.entry_type),
        ("status", entry.status),
        ("source", entry.source),
        ("version", str(entry.version)),
        ("category", entry.category or "-"),
        ("tags", ", ".join(entry.tags) or "-"),
        ("services", ", ".join(entry.services) or "-"),
        ("incident", entry.related_incident_id or "-"),
        ("playbook", entry.related_playbook_id or "-"),
        ("symptoms hash", entry.symptoms_hash or "-"),
        ("created by", entry.created_by),
        ("reviewed by", entry.reviewed_by or "-"),
        ("reviewed at", when(entry.reviewed_at, seconds)),
        ("review note", entry.review_note or "-"),
        ("published at", when(entry.published_at, seconds)),
        (
            "created / updated",
            f"{when(entry.created_at, seconds)} / {when(entry.updated_at, seconds)}",
        ),
    ):
        out_console.print(Text(f"  {label:18} {value}"))
    out_console.rule()
    out_console.print(Text(entry.content))


# --- review -------------------------------------------------------------------------------------


@app.command()
def approve(
    ctx: typer.Context,
    entry_id: EntryId,
    note: Annotated[str | None, typer.Option(help="A note kept with the review.")] = None,
    output: FormatOption = "table",
) -> None:
    """Publish a DRAFT entry."""
    entry: EntryOut = with_backend(ctx, lambda b: b.approve_entry(entry_id, note=note))
    if output == "json":
        print_json(entry)
        return
    out_console.print(f"entry {entry.id} is now {entry.status}", highlight=False)


@app.command()
def reject(
    ctx: typer.Context,
    entry_id: EntryId,
    reason: Annotated[str, typer.Option(help="Why the entry is rejected (kept).")],
    output: FormatOption = "table",
) -> None:
    """Reject a DRAFT entry, with a reason."""
    entry: EntryOut = with_backend(ctx, lambda b: b.reject_entry(entry_id, reason=reason))
    if output == "json":
        print_json(entry)
        return
    out_console.print(f"entry {entry.id} is now {entry.status}", highlight=False)


# --- export -------------------------------------------------------------------------------------


def _unique_name(title: str, uid: str, used: set[str]) -> str:
    # Two entries may share a slug and the first 8 characters of their uid (hand-made uids).
    name = entry_filename(title, uid)
    if name in used:
        name = f"{slugify(title)}-{slugify(uid, max_chars=36)}.md"
    base, counter = name.removesuffix(".md"), 2
    while name in used:
        name, counter = f"{base}-{counter}.md", counter + 1
    used.add(name)
    return name


def _uids_on_disk(directory: Path) -> dict[str, Path]:
    """The uid of every readable knowledge file already in the directory."""
    found: dict[str, Path] = {}
    try:
        for item in iter_markdown_files(directory):
            if isinstance(item, Path):
                try:
                    found[parse_markdown(read_markdown_file(item), origin=str(item)).uid] = item
                except KnowledgeFileError:
                    continue
    except KnowledgeFileError:
        return found
    return found


@app.command()
def export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Directory to write (created if missing).")],
    status: StatusOption = None,
    entry_type: TypeOption = None,
) -> None:
    """Write one Markdown file with YAML front matter per entry (from the local database)."""
    local_only(ctx, "kb export")
    settings = settings_from(ctx)

    filters = kb_search.Filters(
        entry_type=entry_type.value if entry_type else None,
        status=status.value if status else None,
    )

    async def action(database: Database) -> list[tuple[str, str, str]]:
        rendered: list[tuple[str, str, str]] = []
        async with transaction(database.session_factory) as session:
            async for page in kb_search.pages_by_id(session, filters, page_size=EXPORT_PAGE):
                for entry in page:
                    rendered.append((entry.title, entry.uid, entry_to_markdown(entry)))
        return rendered

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{directory}: cannot create directory: {exc.strerror or exc}") from None
    if not directory.is_dir():
        raise fail(f"{directory}: not a directory")
    rendered = with_database(settings, action, create=cli_state(ctx).yes)
    earlier = _uids_on_disk(directory)
    used: set[str] = set()
    written = failed = 0
    for title, uid, text in rendered:
        name = _unique_name(title, uid, used)
        try:
            write_markdown_file(directory, name, text)
        except KnowledgeFileError as exc:
            _error(exc.detail)
            failed += 1
            continue
        written += 1
        stale = earlier.get(uid)
        if stale is not None and stale.name != name:
            _warn(
                f"{stale} holds the same uid as {name} (an earlier export under another title?); "
                "remove it, or kb import will reject the duplicate"
            )
    out_console.print(Text(f"exported {written} entries to {directory}"))
    if failed:
        raise fail(f"{failed} entries could not be written")


# --- import -------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What importing one file did."""

    path: Path
    result: str  # imported | updated | skipped | failed
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def _clean(values: tuple[str, ...] | list[str]) -> list[str]:
    return sorted({value.strip() for value in values if value.strip()})


def _changes(entry: KnowledgeEntry, parsed: ParsedEntry) -> dict[str, Any]:
    """The edits that make the stored entry match the file (compared as the service stores)."""
    changes: dict[str, Any] = {}
    if redact(parsed.title)[:300] != entry.title:
        changes["title"] = parsed.title
    if redact(parsed.content) != entry.content:
        changes["content"] = parsed.content
    if _clean(parsed.tags) != list(entry.tags):
        changes["tags"] = list(parsed.tags)
    if _clean(parsed.services) != list(entry.services):
        changes["services"] = list(parsed.services)
    # A missing category leaves the stored one alone (an edit cannot clear it).
    if parsed.category is not None and parsed.category != entry.category:
        changes["category"] = parsed.category
    return changes


async def _import_one(session: AsyncSession, parsed: ParsedEntry, outcome: _Outcome) -> None:
    origin = parsed.origin
    existing = await service.get_by_uid(session, parsed.uid)
    if existing is None:
        status = parsed.status
        if status not in _IMPORTABLE:
            outcome.warnings.append(f"{origin}: status {status.value} is imported as DRAFT")
            status = EntryStatus.DRAFT
        entry = await service.create_entry(
            session,
            service.NewEntry(
                title=parsed.title,
                content=parsed.content,
                entry_type=parsed.entry_type,
                source=EntrySource.IMPORTED,
                status=status,
                created_by=cli_actor(),
                category=parsed.category,
                tags=parsed.tags,
                services=parsed.services,
                related_incident_id=parsed.related_incident_id,
                related_playbook_id=parsed.related_playbook_id,
                symptoms_hash=parsed.symptoms_hash,
                uid=parsed.uid,
            ),
            caller=cli_caller(),
            audit_detail={"via": "import", "file": outcome.path.name},
        )
        outcome.result, outcome.message = "imported", f"created entry {entry.id}"
        return
    if parsed.entry_type.value != existing.entry_type:
        outcome.warnings.append(
            f"{origin}: entry_type {parsed.entry_type.value} differs from the stored "
            f"{existing.entry_type}; import does not change it"
        )
    if parsed.status.value != existing.status:
        outcome.warnings.append(
            f"{origin}: status {parsed.status.value} differs from the stored {existing.status}; "
            "import does not change review status (use kb approve / reject)"
        )
    changes = _changes(existing, parsed)
    if not changes:
        outcome.result = "skipped"
        return
    detail = {"via": "import", "file": outcome.path.name, "fields": sorted(changes)}
    entry = await service.update_entry(
        session, existing.id, caller=cli_caller(), audit_detail=detail, **changes
    )
    outcome.result = "updated"
    outcome.message = f"entry {entry.id} is now version {entry.version}"


def _parse_directory(directory: Path) -> tuple[list[tuple[ParsedEntry, _Outcome]], list[_Outcome]]:
    """Read and parse every file: the parsed ones and the outcomes of those that failed."""
    parsed: list[tuple[ParsedEntry, _Outcome]] = []
    failed: list[_Outcome] = []
    seen: dict[str, Path] = {}
    for item in iter_markdown_files(directory):
        if isinstance(item, SkippedFile):
            _warn(f"{item.path}: {item.reason}")
            continue
        try:
            entry = parse_markdown(read_markdown_file(item), origin=str(item))
        except KnowledgeFileError as exc:
            failed.append(_Outcome(item, "failed", exc.detail))
            continue
        if entry.uid in seen:
            failed.append(
                _Outcome(item, "failed", f"{item}: uid {entry.uid} is also in {seen[entry.uid]}")
            )
            continue
        seen[entry.uid] = item
        parsed.append((entry, _Outcome(item, "failed")))
    return parsed, failed


@app.command("import")
def import_(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(
            help="Directory of .md files (as written by kb export).",
            exists=True,
            file_okay=False,
            dir_okay=True,
        ),
    ],
) -> None:
    """Create or update entries from Markdown files, matched by uid; unchanged files are skipped.

    Each file is imported in its own transaction: a broken file is reported and the others are
    still imported; the exit code is 1 if any file failed. Works on the local database.
    """
    local_only(ctx, "kb import")
    settings = settings_from(ctx)
    try:
        parsed, failures = _parse_directory(directory)
    except KnowledgeFileError as exc:
        raise fail(exc.detail) from None

    async def action(database: Database) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        for entry, outcome in parsed:
            try:
                async with transaction(database.session_factory) as session:
                    await _import_one(session, entry, outcome)
            except AwoooiError as exc:
                outcome.result, outcome.message = "failed", f"{entry.origin}: {exc.detail}"
            except SQLAlchemyError as exc:
                first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
                outcome.result = "failed"
                outcome.message = f"{entry.origin}: database error: {first_line}"
            outcomes.append(outcome)
        return outcomes

    outcomes = with_database(settings, action, create=cli_state(ctx).yes) + failures
    outcomes.sort(key=lambda outcome: outcome.path.name)
    counts = dict.fromkeys(("imported", "updated", "skipped", "failed"), 0)
    for outcome in outcomes:
        counts[outcome.result] += 1
        for warning in outcome.warnings:
            _warn(warning)
        if outcome.result == "failed":
            _error(outcome.message)
        elif outcome.result in {"imported", "updated"}:
            out_console.print(Text(f"{outcome.result}: {outcome.path.name} ({outcome.message})"))
    out_console.print(
        ", ".join(f"{name} {count}" for name, count in counts.items()), highlight=False
    )
    if counts["failed"]:
        raise typer.Exit(1)

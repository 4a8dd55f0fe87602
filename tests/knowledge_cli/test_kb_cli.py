"""`awoooi kb` as users run it (subprocesses), on SQLite and on PostgreSQL: export / import round
trips, idempotent imports, per-file failures, safe file names, review transitions, search, show."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from awoooi.core.db import transaction
from awoooi.core.models import AuditEntry
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import create_pg_database, drop_pg_database, make_settings

AWOOOI = Path(sys.executable).parent / "awoooi"
CLI_TIMEOUT = 60
HASH = "0123456789abcdef"


def cli_env(home: Path, database_url: str) -> dict[str, str]:
    """The outer environment without AWOOOI_*, plus this test's home and database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWOOOI_") and key not in {"COLUMNS", "LINES"}
    }
    env.update(AWOOOI_HOME=str(home), AWOOOI_DATABASE_URL=database_url, COLUMNS="250")
    return env


@dataclass(frozen=True)
class Target:
    """Where a CLI run points: its home and database."""

    home: Path
    database_url: str


async def kb(target: Target, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `awoooi kb ...` against the target's database, off the event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(AWOOOI), "kb", *args],
        env=cli_env(target.home, target.database_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in " ".join((result.stderr + result.stdout).split()), result.stderr


async def add_entry(runtime: Runtime, **values: Any) -> KnowledgeEntry:
    """Create an entry through the service (a MANUAL RUNBOOK in DRAFT by default), committed."""
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


async def entries_by_uid(runtime: Runtime) -> dict[str, KnowledgeEntry]:
    async with transaction(runtime.session_factory) as session:
        return {entry.uid: entry for entry in await session.scalars(select(KnowledgeEntry))}


@pytest.fixture
def cli(settings: Settings, database_url: str) -> Target:
    """The CLI pointed at the test's (seeded) database."""
    return Target(settings.home, database_url)


@dataclass(frozen=True)
class Fresh:
    """A second database and the CLI target pointing at it."""

    runtime: Runtime
    target: Target


@pytest.fixture
async def fresh(database_url: str, tmp_path: Path) -> AsyncIterator[Fresh]:
    """A second, empty (migrated) database of the same kind, as the import target."""
    if database_url.startswith("sqlite"):
        url, made = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", None
    else:
        url = made = await create_pg_database()
    active = Runtime.from_settings(make_settings(tmp_path / "fresh-home", url))
    try:
        await active.migrate()
        yield Fresh(active, Target(tmp_path / "fresh-home", url))
    finally:
        await active.dispose()
        if made is not None:
            await drop_pg_database(made)


@pytest.fixture
async def seeded(runtime: Runtime) -> list[KnowledgeEntry]:
    """Four entries of different types, statuses and shapes."""
    return [
        await add_entry(
            runtime,
            title="Restart a crash-looping worker",
            content="# Steps\n\nRun `kubectl rollout restart deploy/worker`.\n\n- check logs\n",
            tags=("k8s", "worker"),
            services=("worker",),
            category="kubernetes",
            status=EntryStatus.PUBLISHED,
        ),
        await add_entry(
            runtime,
            title="Do not scale the database to zero",
            content="Scaling postgres to zero replicas loses the WAL volume mount.",
            entry_type=EntryType.ANTI_PATTERN,
            source=EntrySource.AI_EXTRACTED,
            status=EntryStatus.PUBLISHED,
            symptoms_hash=HASH,
            related_incident_id="INC-20260101-0001",
        ),
        await add_entry(runtime, title="A draft: üñíçødé notes", content="no trailing newline"),
        await add_entry(
            runtime,
            title="../../../etc/passwd\\..\\evil: <x> | *?",
            content="traversal title",
            tags=("security",),
        ),
    ]


async def test_export_import_round_trip_then_idempotent_then_update(
    cli: Target, seeded: list[KnowledgeEntry], fresh: Fresh, tmp_path: Path
) -> None:
    out = tmp_path / "export" / "kb"
    out.mkdir(parents=True)
    stale = out / "old-title.md"
    stale.write_text(f"---\nuid: {seeded[0].uid}\ntitle: Old title\n---\nold\n")
    exported = await kb(cli, "export", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "exported 4 entries" in exported.stdout
    assert f"{stale} holds the same uid as restart-a-crash" in " ".join(exported.stderr.split())
    stale.unlink()
    files = sorted(out.iterdir())
    assert len(files) == 4
    for path in files:
        # Safe names only, all directly inside the target directory.
        assert path.parent == out
        assert path.name.endswith(".md")
        assert set(path.name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-.")
    evil = seeded[3]
    assert (out / f"etc-passwd-evil-x-{evil.uid[:8]}.md").is_file()
    assert not (tmp_path / "etc").exists()

    target = fresh.target
    imported = await kb(target, "import", str(out), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "imported 4, updated 0, skipped 0, failed 0" in imported.stdout

    copies = await entries_by_uid(fresh.runtime)
    assert set(copies) == {entry.uid for entry in seeded}
    for original in seeded:
        copy = copies[original.uid]
        assert copy.title == original.title
        assert copy.content == original.content
        assert copy.entry_type == original.entry_type
        assert copy.tags == original.tags
        assert copy.services == original.services
        assert copy.category == original.category
        assert copy.status == original.status
        assert copy.symptoms_hash == original.symptoms_hash
        assert copy.related_incident_id == original.related_incident_id
        assert copy.source == EntrySource.IMPORTED.value
        assert copy.version == 1
        assert copy.created_by.startswith("cli")

    again = await kb(target, "import", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "imported 0, updated 0, skipped 4, failed 0" in again.stdout
    assert {
        uid: e.version for uid, e in (await entries_by_uid(fresh.runtime)).items()
    } == dict.fromkeys(copies, 1)

    edited_file = next(path for path in files if path.name.startswith("restart-a-crash"))
    edited_file.write_text(
        edited_file.read_text(encoding="utf-8").replace("- check logs", "- check the logs"),
        encoding="utf-8",
    )
    updated = await kb(target, "import", str(out), cwd=tmp_path)
    assert updated.returncode == 0, updated.stderr
    assert "imported 0, updated 1, skipped 3, failed 0" in updated.stdout
    after = (await entries_by_uid(fresh.runtime))[seeded[0].uid]
    assert after.version == 2
    assert "- check the logs" in after.content
    async with transaction(fresh.runtime.session_factory) as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert actions.count("knowledge.create") == 4
    assert actions.count("knowledge.update") == 1


async def test_broken_file_is_named_and_the_others_are_imported(
    cli: Target, runtime: Runtime, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "good.md").write_text(
        "---\nuid: good-0001\ntitle: Flush the DNS cache\nentry_type: REFERENCE\n"
        "status: ARCHIVED\ntags: [dns]\n---\nRun `resolvectl flush-caches`.\n",
        encoding="utf-8",
    )
    (source / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    (source / "bad-type.md").write_text(
        "---\nuid: bad-0001\ntitle: X\nentry_type: RECIPE\n---\nbody\n", encoding="utf-8"
    )
    (source / "same-uid.md").write_text(
        "---\nuid: good-0001\ntitle: Another file, same uid\n---\nbody\n", encoding="utf-8"
    )
    (source / "notes.txt").write_text("not markdown", encoding="utf-8")
    (source / "link.md").symlink_to(source / "good.md")

    result = await kb(cli, "import", str(source), cwd=tmp_path)

    assert_clean_failure(
        result,
        "broken.md: broken YAML front matter",
        "bad-type.md: field 'entry_type'",
        "link.md: is a symlink; skipped",
        "status ARCHIVED is imported as DRAFT",
        "same-uid.md: uid good-0001 is also in",
        "imported 1, updated 0, skipped 0, failed 3",
    )
    entries = await entries_by_uid(runtime)
    assert set(entries) == {"good-0001"}
    good = entries["good-0001"]
    assert good.status == EntryStatus.DRAFT.value
    assert good.entry_type == EntryType.REFERENCE.value
    assert good.source == EntrySource.IMPORTED.value
    assert good.content == "Run `resolvectl flush-caches`."


async def test_review_transitions(cli: Target, runtime: Runtime, tmp_path: Path) -> None:
    first = await add_entry(runtime, title="First")
    second = await add_entry(runtime, title="Second")

    approved, rejected = await asyncio.gather(
        kb(cli, "approve", str(first.id), "--note", "checked", cwd=tmp_path),
        kb(cli, "reject", str(second.id), "--reason", "wrong", cwd=tmp_path),
    )
    assert approved.returncode == 0, approved.stderr
    assert f"entry {first.id} is now PUBLISHED" in approved.stdout
    assert rejected.returncode == 0, rejected.stderr
    assert f"entry {second.id} is now REJECTED" in rejected.stdout

    approve_rejected, reject_published = await asyncio.gather(
        kb(cli, "approve", str(second.id), cwd=tmp_path),
        kb(cli, "reject", str(first.id), "--reason", "late", cwd=tmp_path),
    )
    assert_clean_failure(
        approve_rejected, f"entry {second.id} is REJECTED; only a DRAFT can be approved"
    )
    assert_clean_failure(
        reject_published, f"entry {first.id} is PUBLISHED; only a DRAFT can be rejected"
    )

    async with transaction(runtime.session_factory) as session:
        stored = {e.id: e for e in await session.scalars(select(KnowledgeEntry))}
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert stored[first.id].status == EntryStatus.PUBLISHED.value
    assert stored[first.id].review_note == "checked"
    assert stored[first.id].reviewed_by is not None
    assert stored[first.id].reviewed_by.startswith("cli")
    assert stored[second.id].status == EntryStatus.REJECTED.value
    assert stored[second.id].review_note == "wrong"
    assert sorted(actions) == ["knowledge.approve", "knowledge.reject"]


async def test_search_show_and_list(cli: Target, runtime: Runtime, tmp_path: Path) -> None:
    best = await add_entry(
        runtime,
        title="Previous container logs of a CrashLoopBackOff",
        content="When the pod restarts forever, read the previous container logs first.",
        tags=("k8s",),
    )
    weaker = await add_entry(
        runtime,
        title="Debugging pods",
        content="Among other things, the previous container may have left logs.",
    )
    await add_entry(runtime, title="Rotate certificates", content="Renew with cert-manager.")

    found, shown, listed, missing = await asyncio.gather(
        kb(cli, "search", "previous container", cwd=tmp_path),
        kb(cli, "show", str(best.id), cwd=tmp_path),
        kb(cli, "list", "--tag", "k8s", cwd=tmp_path),
        kb(cli, "show", "999999", cwd=tmp_path),
    )

    assert found.returncode == 0, found.stderr
    ranked = [line.split("│")[1].strip() for line in found.stdout.splitlines() if "│" in line]
    assert ranked == [str(best.id), str(weaker.id)]
    assert "[previous]" in found.stdout  # the snippet marks the match (and is not rich markup)
    assert "Rotate certificates" not in found.stdout
    assert "2 of 2 matches" in found.stdout

    assert shown.returncode == 0, shown.stderr
    assert best.uid in shown.stdout
    assert "read the previous container logs first." in shown.stdout

    assert listed.returncode == 0, listed.stderr
    assert "Previous container logs of a CrashLoopBackOff" in listed.stdout
    assert "Rotate certificates" not in listed.stdout
    assert "1 of 1" in listed.stdout

    assert_clean_failure(missing, "no knowledge entry 999999")


async def test_search_scores_the_best_hit_100_and_the_others_relative_to_it(
    cli: Target, runtime: Runtime, tmp_path: Path
) -> None:
    """Issue 18 item 11: not `0.000` for every hit (bm25 of a small knowledge base)."""
    best = await add_entry(
        runtime,
        title="Previous container logs of a CrashLoopBackOff",
        content="When the pod restarts forever, read the previous container logs first.",
    )
    weaker = await add_entry(
        runtime,
        title="Debugging pods",
        content="Among other things, the previous container may have left logs.",
    )
    await add_entry(runtime, title="Rotate certificates", content="Renew with cert-manager.")

    table, as_json = await asyncio.gather(
        kb(cli, "search", "previous container", cwd=tmp_path),
        kb(cli, "search", "previous container", "--format", "json", cwd=tmp_path),
    )

    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "┃" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")][:2] == ["id", "score"]
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in table.stdout.splitlines()
        if line.startswith("│")
    ]
    scores = {row[0]: row[1] for row in rows}
    assert scores[str(best.id)] == "100"
    assert 0 <= int(scores[str(weaker.id)]) < 100
    assert "0.000" not in table.stdout
    page = json.loads(as_json.stdout)
    ranks = [item["rank"] for item in page["items"]]
    assert [item["id"] for item in page["items"]] == [best.id, weaker.id]
    assert ranks[0] > ranks[1] > 0

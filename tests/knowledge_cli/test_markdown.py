"""Knowledge entries as Markdown files: rendering, parsing with clear errors, safe file names,
writes that stay inside their directory and reads that never follow symlinks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from awoooi.knowledge.markdown import (
    FRONT_MATTER_FIELDS,
    KnowledgeFileError,
    SkippedFile,
    entry_filename,
    entry_to_markdown,
    iter_markdown_files,
    parse_markdown,
    read_markdown_file,
    slugify,
    write_markdown_file,
)
from awoooi.knowledge.models import EntryStatus, EntryType, KnowledgeEntry

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def make_entry(**values: Any) -> KnowledgeEntry:
    fields: dict[str, Any] = {
        "id": 7,
        "uid": "3f2b8c1e-0000-4000-8000-000000000001",
        "title": "Restart a stuck worker",
        "content": "# Steps\n\n1. `kubectl rollout restart deploy/worker`\n",
        "entry_type": "RUNBOOK",
        "category": "kubernetes",
        "tags": ["k8s", "worker"],
        "services": ["worker"],
        "source": "MANUAL",
        "status": "PUBLISHED",
        "related_incident_id": "INC-20260304-0001",
        "related_playbook_id": None,
        "symptoms_hash": "0123456789abcdef",
        "created_by": "alice",
        "reviewed_by": "bob",
        "reviewed_at": NOW,
        "version": 3,
        "published_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        **values,
    }
    return KnowledgeEntry(**fields)


def front(**values: Any) -> str:
    fields: dict[str, Any] = {"uid": "abc-1", "title": "A title", **values}
    return "---\n" + yaml.safe_dump(fields, sort_keys=False) + "---\nbody\n"


def error_of(text: str, origin: str = "kb/file.md") -> str:
    with pytest.raises(KnowledgeFileError) as caught:
        parse_markdown(text, origin=origin)
    return caught.value.detail


# --- rendering and round trips ------------------------------------------------------------------


def test_front_matter_has_every_field_in_order_then_the_content() -> None:
    text = entry_to_markdown(make_entry())

    assert text.startswith("---\n")
    head, content = text.removeprefix("---\n").split("---\n", 1)
    meta = yaml.safe_load(head)
    assert tuple(meta) == FRONT_MATTER_FIELDS
    assert meta["uid"] == "3f2b8c1e-0000-4000-8000-000000000001"
    assert meta["tags"] == ["k8s", "worker"]
    assert meta["version"] == 3
    assert meta["reviewed_at"] == NOW.isoformat()
    assert content == "# Steps\n\n1. `kubectl rollout restart deploy/worker`\n\n"


def test_parse_reads_back_what_was_rendered() -> None:
    parsed = parse_markdown(entry_to_markdown(make_entry()), origin="x.md")

    assert parsed.origin == "x.md"
    assert parsed.uid == "3f2b8c1e-0000-4000-8000-000000000001"
    assert parsed.title == "Restart a stuck worker"
    assert parsed.content == "# Steps\n\n1. `kubectl rollout restart deploy/worker`\n"
    assert parsed.entry_type is EntryType.RUNBOOK
    assert parsed.status is EntryStatus.PUBLISHED
    assert parsed.category == "kubernetes"
    assert parsed.tags == ("k8s", "worker")
    assert parsed.services == ("worker",)
    assert parsed.source == "MANUAL"
    assert parsed.related_incident_id == "INC-20260304-0001"
    assert parsed.related_playbook_id is None
    assert parsed.symptoms_hash == "0123456789abcdef"
    assert parsed.version == 3
    assert parsed.created_by == "alice"
    assert parsed.reviewed_by == "bob"
    assert parsed.reviewed_at == NOW
    assert parsed.published_at == NOW
    assert parsed.updated_at == NOW


@pytest.mark.parametrize(
    "content",
    [
        "",
        "no newline",
        "one newline\n",
        "two newlines\n\n",
        "---\nlooks like front matter\n---\n",
        "CRLF\r\nlines\r\n",
        "tabs\tand unicode ✓ ü 日本",
        "[bold]markup[/] and :emoji: stay text",
    ],
)
def test_content_survives_a_round_trip_byte_for_byte(content: str) -> None:
    parsed = parse_markdown(entry_to_markdown(make_entry(content=content)), origin="x.md")

    assert parsed.content == content


@pytest.mark.parametrize(
    "title",
    [
        "title: with a colon",
        "- looks like a list",
        "'quoted' \"twice\"",
        "multi\nline",
        "123",
        "null",
        "  padded  ",
        "---",
    ],
)
def test_awkward_titles_survive_a_round_trip(title: str) -> None:
    parsed = parse_markdown(entry_to_markdown(make_entry(title=title)), origin="x.md")

    assert parsed.title == title


def test_an_editor_final_newline_changes_nothing() -> None:
    parsed = parse_markdown("---\nuid: a\ntitle: T\n---\nbody", origin="x.md")

    assert parsed.content == "body"
    assert parse_markdown("---\nuid: a\ntitle: T\n---\nbody\n", origin="x.md").content == "body"


def test_defaults_for_a_hand_written_file() -> None:
    parsed = parse_markdown("\ufeff---\r\nuid: a1\r\ntitle: T\r\n---\r\nbody", origin="x.md")

    assert parsed.entry_type is EntryType.RUNBOOK
    assert parsed.status is EntryStatus.DRAFT
    assert parsed.tags == ()
    assert parsed.symptoms_hash is None
    assert parsed.content == "body"


def test_tags_are_trimmed_and_numbers_read_as_text() -> None:
    parsed = parse_markdown(front(tags=[" k8s ", 42], related_incident_id=7), origin="x.md")

    assert parsed.tags == ("k8s", "42")
    assert parsed.related_incident_id == "7"


# --- errors name the file and the problem -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no front matter at all\n", "kb/file.md: missing front matter"),
        ("", "kb/file.md: missing front matter"),
        ("---\nuid: a\ntitle: T\nbody\n", "kb/file.md: front matter is not closed"),
        ("---\ntitle: [unclosed\n---\nbody\n", "kb/file.md: broken YAML front matter (line"),
        ("---\n- a\n- list\n---\nbody\n", "kb/file.md: front matter must be a mapping"),
        ("---\n---\nbody\n", "kb/file.md: field 'uid' is required; field 'title' is required"),
        (front(entry_type="RECIPE"), "kb/file.md: field 'entry_type': Input should be"),
        (front(status="LIVE"), "kb/file.md: field 'status': Input should be"),
        (front(symptoms_hash="XYZ"), "kb/file.md: field 'symptoms_hash': String should match"),
        (front(symptoms_hash="0123456789ABCDEF"), "field 'symptoms_hash'"),
        (front(title=""), "kb/file.md: field 'title'"),
        (front(title="   "), "kb/file.md: field 'title': Value error, must not be blank"),
        (front(title="x" * 301), "kb/file.md: field 'title'"),
        (front(uid="../../etc"), "kb/file.md: field 'uid'"),
        (front(tags="k8s"), "kb/file.md: field 'tags'"),
        (front(tag=["typo"]), "kb/file.md: unknown field 'tag'"),
        (front(version=0), "kb/file.md: field 'version'"),
        (front(reviewed_at="yesterday"), "kb/file.md: field 'reviewed_at'"),
    ],
)
def test_invalid_files_are_named_with_the_problem(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_missing_title_is_named() -> None:
    detail = error_of("---\nuid: a\n---\nbody\n")

    assert detail == "kb/file.md: field 'title' is required"


# --- file names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Restart a Stuck Worker!", "restart-a-stuck-worker"),
        ("../../../etc/passwd", "etc-passwd"),
        ("..\\..\\windows\\system32", "windows-system32"),
        ("Crème brûlée über", "creme-brulee-uber"),
        ("日本語", "entry"),
        ("", "entry"),
        ("-" * 10, "entry"),
        ("a" * 100, "a" * 60),
        ("a" * 59 + " b", "a" * 59),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_entry_filename_is_slug_and_uid_prefix() -> None:
    assert entry_filename("Restart worker", "3f2b8c1e-0000") == "restart-worker-3f2b8c1e.md"
    assert entry_filename("/../x", "../../ab") == "x-ab.md"
    assert entry_filename("NUL\x00name", "ABCDEF12") == "nul-name-abcdef12.md"


def test_write_stays_inside_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()

    written = write_markdown_file(target, "a-1.md", "text")

    assert written == target.resolve() / "a-1.md"
    assert written.read_text() == "text"
    assert sorted(p.name for p in target.iterdir()) == ["a-1.md"]  # no temporary file left
    for name in ("../escape.md", "sub/x.md", "/etc/x.md", ".hidden.md", "a.txt", "A.md", ""):
        with pytest.raises(KnowledgeFileError):
            write_markdown_file(target, name, "text")
    assert not (tmp_path / "escape.md").exists()


def test_write_never_goes_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    outside = tmp_path / "outside.md"
    outside.write_text("keep me")
    (target / "a-1.md").symlink_to(outside)

    with pytest.raises(KnowledgeFileError, match="symlink"):
        write_markdown_file(target, "a-1.md", "overwritten?")

    assert outside.read_text() == "keep me"


def test_write_replaces_an_earlier_export(tmp_path: Path) -> None:
    write_markdown_file(tmp_path, "a-1.md", "old")
    write_markdown_file(tmp_path, "a-1.md", "new")

    assert (tmp_path / "a-1.md").read_text() == "new"


# --- reading ------------------------------------------------------------------------------------


def test_read_refuses_symlinks_large_and_binary_files(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_text("---\nuid: a\ntitle: T\n---\n")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * 101)
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe\x00")

    assert read_markdown_file(real) == "---\nuid: a\ntitle: T\n---\n"
    with pytest.raises(KnowledgeFileError, match=r"link\.md: cannot read"):
        read_markdown_file(link)
    with pytest.raises(KnowledgeFileError, match=r"big\.md: larger than 100 bytes"):
        read_markdown_file(big, max_bytes=100)
    assert read_markdown_file(big, max_bytes=101) == "x" * 101
    with pytest.raises(KnowledgeFileError, match=r"binary\.md: not UTF-8 text"):
        read_markdown_file(binary)


def test_listing_skips_symlinks_and_non_markdown_files(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("b")
    (tmp_path / "a.MD").write_text("a")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "dir.md").mkdir()
    (tmp_path / "link.md").symlink_to(tmp_path / "b.md")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing.md")

    items = list(iter_markdown_files(tmp_path))

    paths = [item for item in items if isinstance(item, Path)]
    skipped = {item.path.name: item.reason for item in items if isinstance(item, SkippedFile)}
    assert [path.name for path in paths] == ["a.MD", "b.md"]
    assert skipped == {
        "dangling.md": "is a symlink; skipped",
        "dir.md": "is not a regular file; skipped",
        "link.md": "is a symlink; skipped",
    }


def test_listing_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeFileError, match="cannot list"):
        list(iter_markdown_files(tmp_path / "missing"))

"""Layer rules import-linter cannot see: statements are built in repositories only, and doors
never write the audit log themselves (the services do, in the decision's transaction)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import awoooi

PACKAGE = Path(awoooi.__file__).parent
STATEMENT_BUILDERS = frozenset({"select", "insert", "update", "delete"})
AUDIT_WRITERS = frozenset({"record_audit", "record_refusal", "AuditEntry"})


def statement_builders(source: str) -> list[str]:
    """Where a module builds SQLAlchemy statements: `line: name` for each use."""
    tree = ast.parse(source)
    found: list[str] = []
    # Names bound to SQLAlchemy modules (`import sqlalchemy as sa`, `from sqlalchemy.dialects
    # import postgresql`): `sa.select(...)` and `postgresql.insert(...)` build statements too.
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy":
                    modules.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in STATEMENT_BUILDERS:
                    found.append(f"{node.lineno}: {alias.name}")
                elif node.module == "sqlalchemy.dialects" or alias.name in {"sql", "dialects"}:
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in STATEMENT_BUILDERS
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def audit_writes(source: str) -> list[str]:
    """Where a module imports or names what writes the audit log."""
    tree = ast.parse(source)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [f"{node.lineno}: {a.name}" for a in node.names if a.name in AUDIT_WRITERS]
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in AUDIT_WRITERS:
                found.append(f"{node.lineno}: {name}")
    return found


def modules() -> Iterator[tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8")


def is_door(relative: str) -> bool:
    """API and CLI modules, the console, every endpoints module and Telegram's update handler."""
    top = relative.split("/")[0]
    return (
        top in {"api", "cli", "console"}
        or relative.endswith("/endpoints.py")
        or relative == "notify/telegram_updates.py"
    )


def test_the_checks_see_what_they_look_for() -> None:
    """The checkers themselves: each form of the forbidden thing is found."""
    source = (
        "import sqlalchemy as sa\n"
        "from sqlalchemy import func, select\n"
        "from sqlalchemy.dialects import postgresql\n"
        "q = sa.update(T)\n"
        "r = postgresql.insert(T)\n"
        "s = {}.update(a=1)\n"  # a dict's update is not a statement
    )
    assert statement_builders(source) == ["2: select", "4: sa.update", "5: postgresql.insert"]
    assert audit_writes("from awoooi.core.audit import Caller, record_audit\n") == [
        "1: record_audit"
    ]
    assert audit_writes("x = audit.record_audit\n") == ["1: record_audit"]
    assert audit_writes("from awoooi.core.audit import Caller, list_audit\n") == []


def test_statements_are_built_in_repositories_only() -> None:
    offenders = {
        relative: found
        for relative, source in modules()
        if not relative.endswith("repository.py") and (found := statement_builders(source))
    }
    assert offenders == {}, "build statements in the domain's repository.py"


def test_doors_never_write_the_audit_log() -> None:
    offenders = {
        relative: found
        for relative, source in modules()
        if is_door(relative) and (found := audit_writes(source))
    }
    assert offenders == {}, "a door calls one service function; the service audits"


@pytest.mark.parametrize(
    "relative",
    ["api/admin.py", "cli/repairs.py", "repair/endpoints.py", "notify/telegram_updates.py"],
)
def test_doors_are_recognised(relative: str) -> None:
    assert (PACKAGE / relative).is_file()
    assert is_door(relative)

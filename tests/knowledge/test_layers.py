"""Statements are built in repositories only: the knowledge services, its CLI and the AI ledger
call a repository instead of importing SQLAlchemy's statement builders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import awoooi

SOURCE = Path(awoooi.__file__).parent
BUILDERS = {"select", "insert", "update", "delete", "text"}
CHECKED = sorted(
    [
        *(SOURCE / "knowledge").glob("*.py"),
        SOURCE / "cli" / "kb.py",
        *(SOURCE / "ai").glob("*.py"),
    ]
)


def statement_imports(path: Path) -> set[str]:
    """The statement builders a module imports from sqlalchemy (or its sql/ dialect modules)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found.update(alias.name for alias in node.names if alias.name in BUILDERS)
        elif isinstance(node, ast.Import) and any(
            alias.name.startswith("sqlalchemy") for alias in node.names
        ):
            found.add("sqlalchemy")  # a whole-module import would reach the builders too
    return found


# Table definitions (index conditions in text()) are schema, not queries.
ALLOWED = {"repository.py": BUILDERS, "models.py": {"text"}}


@pytest.mark.parametrize("path", CHECKED, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_only_repositories_build_statements(path: Path) -> None:
    allowed = ALLOWED.get(path.name, set())
    assert statement_imports(path) - allowed == set(), f"{path}: move the query to repository.py"

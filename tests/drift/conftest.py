"""Fixtures for the drift API tests: tokens per role (shared with the incident tests) and a
bare Git remote seeded with files."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.incidents import conftest as incident_fixtures

headers_for = incident_fixtures.headers_for

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.test",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git (no hooks or config of the machine's user); its stdout."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def seed_remote(tmp_path: Path, files: Mapping[str, str]) -> Path:
    """A bare remote whose main branch holds `files` (relative path -> text)."""
    bare = tmp_path / "remote.git"
    git("init", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "seed"
    git("init", "--initial-branch=main", str(work))
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", ".", cwd=work)
    git("commit", "-m", "seed", cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    git("push", "origin", "main", cwd=work)
    return bare

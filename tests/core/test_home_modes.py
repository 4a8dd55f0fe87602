"""$AWOOOI_HOME and the SQLite database are private to the service's user, whatever the umask:
the home and the directories made in it 0700, the database and its WAL/SHM files 0600.

Each case runs in a real subprocess with umask 022 (the usual default, under which a plain
mkdir gives 0755 and a new file 0644), holding the database open while it reports the modes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

# Starts the service's runtime on a home, writes through it (so SQLite has its WAL and SHM
# files), checks a Git repository out into its cache, and prints every mode while still open.
SCRIPT = """
import asyncio, json, os, stat, sys
from pathlib import Path
from sqlalchemy import text
from awoooi.core.db import transaction
from awoooi.runtime import Runtime
from awoooi.settings import Settings

home, repository = Path(sys.argv[1]), sys.argv[2]

def mode(path):
    return oct(stat.S_IMODE(os.stat(path).st_mode)) if path.exists() else None

async def main():
    runtime = Runtime.from_settings(Settings(home=home))
    try:
        await runtime.migrate()
        await runtime.ensure_admin_token()
        async with transaction(runtime.session_factory) as session:
            await session.execute(text("UPDATE alembic_version SET version_num = version_num"))
        await runtime.git.checkout(repository, None, runtime.drift_cache_dir, timeout=60)
        database = home / "awoooi.db"
        names = {
            "home": home,
            "database": database,
            "wal": Path(f"{database}-wal"),
            "shm": Path(f"{database}-shm"),
            "admin_token": home / "admin-token",
            "git_cache": runtime.drift_cache_dir,
        }
        print(json.dumps({name: mode(path) for name, path in names.items()}))
    finally:
        await runtime.dispose()

asyncio.run(main())
"""


def git_repository(tmp_path: Path) -> str:
    """A real Git repository with one commit: what the drift cache clones."""
    work = tmp_path / "repo"
    work.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    (work / "kustomization.yaml").write_text("resources: []\n")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, env=env)
    return f"file://{work}"


def run_service(home: Path, repository: str) -> tuple[dict[str, Any], str]:
    """The modes the runtime left, and what it logged, from a subprocess under umask 022."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWOOOI_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(home), repository],
        capture_output=True,
        text=True,
        env=env,
        umask=0o022,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *logged, report = done.stdout.strip().splitlines()
    return json.loads(report), "\n".join(logged) + done.stderr


def test_a_new_home_and_its_database_are_private(tmp_path: Path) -> None:
    modes, _ = run_service(tmp_path / "state" / "home", git_repository(tmp_path))
    assert modes == {
        "home": "0o700",
        "database": "0o600",
        "wal": "0o600",
        "shm": "0o600",
        "admin_token": "0o600",
        "git_cache": "0o700",
    }


def test_an_existing_database_is_tightened_and_a_shared_home_is_named(tmp_path: Path) -> None:
    # What an earlier version left behind: a 0755 home with a 0644 database in it.
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    database = home / "awoooi.db"
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    database.chmod(0o644)

    modes, logged = run_service(home, git_repository(tmp_path))

    assert modes["database"] == modes["wal"] == modes["shm"] == "0o600"
    assert modes["admin_token"] == "0o600"
    assert modes["git_cache"] == "0o700"
    # The home is the operator's choice (a mount point, a shared directory): named, not changed.
    assert stat.S_IMODE(home.stat().st_mode) == 0o755
    assert "home directory is open to other users" in logged
    assert str(home) in logged

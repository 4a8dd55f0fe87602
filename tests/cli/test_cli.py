"""The `awoooi` command as users run it: real subprocesses of the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy import select

import awoooi
from awoooi.core import migrate
from awoooi.core.auth import hash_token
from awoooi.core.db import create_engine, create_session_factory, transaction
from awoooi.core.models import ApiToken, AuditEntry

AWOOOI = Path(sys.executable).parent / "awoooi"
HEAD = migrate.head_revision()
CLI_TIMEOUT = 60


def cli_env(home: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The outer environment without AWOOOI_* (or terminal sizing), plus this test's settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWOOOI_") and key not in {"COLUMNS", "LINES"}
    }
    env["AWOOOI_HOME"] = str(home)
    if database_url is not None:
        env["AWOOOI_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def awoooi_cli(
    *args: str, env: Mapping[str, str], cwd: Path, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # callers assert on the exit code
        [str(AWOOOI), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def squeeze(text: str) -> str:
    """Text with whitespace runs collapsed: the rich console wraps long lines at 80 columns."""
    return " ".join(text.split())


def unwrapped(text: str) -> str:
    """Text without any whitespace: rich folds words longer than a line (paths, URLs) too."""
    return "".join(text.split())


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(home: Path, database_url: str) -> dict[str, str]:
    return cli_env(home, database_url)


def test_console_script_is_installed_next_to_python() -> None:
    assert AWOOOI.is_file()
    assert os.access(AWOOOI, os.X_OK)


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = awoooi_cli("--help", env=cli_env(tmp_path / "home"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for command in ("version", "serve", "worker", "db", "tokens", "jobs"):
        assert command in result.stdout
    assert "--config" in result.stdout


def test_no_arguments_shows_help(tmp_path: Path) -> None:
    result = awoooi_cli(env=cli_env(tmp_path / "home"), cwd=tmp_path)

    assert "Usage" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_version(tmp_path: Path) -> None:
    result = awoooi_cli("version", env=cli_env(tmp_path / "home"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"awoooi {awoooi.__version__}"


# --- db -----------------------------------------------------------------------------------------


def test_db_upgrade_then_current(tmp_path: Path, env: dict[str, str]) -> None:
    before = awoooi_cli("db", "current", env=env, cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert before.stdout.split() == ["current:", "None", "head:", HEAD]

    upgraded = awoooi_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert upgraded.returncode == 0, upgraded.stderr
    assert unwrapped(upgraded.stdout).endswith(f"isatrevision{HEAD}")
    current = awoooi_cli("db", "current", env=env, cwd=tmp_path)
    assert current.returncode == 0, current.stderr
    assert current.stdout.split() == ["current:", HEAD, "head:", HEAD]

    again = awoooi_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert unwrapped(again.stdout).endswith(f"isatrevision{HEAD}")


def test_db_upgrade_creates_default_sqlite_file_under_home(tmp_path: Path) -> None:
    home = tmp_path / "new" / "state"
    env = cli_env(home)

    result = awoooi_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    database = (home / "awoooi.db").resolve()
    assert database.is_file()
    expected = f"database sqlite+aiosqlite:///{database} is at revision {HEAD}"
    assert unwrapped(result.stdout) == unwrapped(expected)


def test_db_upgrade_hides_the_database_password(tmp_path: Path) -> None:
    # Nothing listens on port 1; the command must fail cleanly and never print the password.
    url = "postgresql+asyncpg://awoooi:hunter2-secret@127.0.0.1:1/awoooi"
    env = cli_env(tmp_path / "home", url)

    result = awoooi_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# --- invalid configuration ----------------------------------------------------------------------


BAD_ENV = {
    "repair.mode": ("AWOOOI_REPAIR__MODE", "sometimes", "repair.mode (env AWOOOI_REPAIR__MODE)"),
    "port": ("AWOOOI_PORT", "abc", "port (env AWOOOI_PORT)"),
    "max_attempts": (
        "AWOOOI_JOBS__MAX_ATTEMPTS",
        "0",
        "jobs.max_attempts (env AWOOOI_JOBS__MAX_ATTEMPTS)",
    ),
    "typo": ("AWOOOI_JOBS__MAX_ATEMPTS", "3", "jobs.max_atempts (env AWOOOI_JOBS__MAX_ATEMPTS)"),
    "url": ("AWOOOI_DATABASE_URL", "mysql://db/awoooi", "database_url (env AWOOOI_DATABASE_URL)"),
    "not-json": (
        "AWOOOI_NOTIFY__CHANNELS",
        "log",
        "notify.channels (env AWOOOI_NOTIFY__CHANNELS): Value error, not a list: lists set in "
        "the environment are JSON",
    ),
}
# Every case on one command; the long-running commands get a few (they share settings_from).
BAD_ENV_CASES = [
    *((("db", "upgrade"), case) for case in BAD_ENV),
    (("serve",), "repair.mode"),
    (("serve",), "port"),
    (("worker",), "max_attempts"),
    (("worker",), "not-json"),
]


@pytest.mark.parametrize(("command", "case"), BAD_ENV_CASES)
def test_bad_env_setting_exits_2_naming_the_key(
    tmp_path: Path, command: tuple[str, ...], case: str
) -> None:
    variable, value, expected = BAD_ENV[case]
    # Should validation wrongly pass, an unbindable host keeps `serve` off real ports and the
    # short timeout bounds a `worker` that starts.
    env = cli_env(tmp_path / "home", AWOOOI_HOST="192.0.2.1", **{variable: value})

    result = awoooi_cli(*command, env=env, cwd=tmp_path, timeout=20)

    assert result.returncode == 2, result.stderr
    assert expected in squeeze(result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "home" / "awoooi.db").exists()  # nothing ran


@pytest.mark.parametrize("placement", ["root", "command"])
def test_bad_yaml_file_exits_2_naming_the_key(tmp_path: Path, placement: str) -> None:
    config = tmp_path / "awoooi.yaml"
    config.write_text("jobs: {max_attempts: 0}\n", encoding="utf-8")
    env = cli_env(tmp_path / "home")
    args = (
        ("--config", str(config), "serve")
        if placement == "root"
        else ("serve", "--config", str(config))
    )

    result = awoooi_cli(*args, env=env, cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    message = squeeze(result.stderr)
    assert "jobs.max_attempts (env AWOOOI_JOBS__MAX_ATTEMPTS)" in message
    assert "greater than or equal to 1" in message
    assert "Traceback" not in result.stderr


def test_yaml_file_with_unknown_key_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "awoooi.yaml"
    config.write_text("jobz:\n  max_attempts: 3\n", encoding="utf-8")

    result = awoooi_cli(
        "--config", str(config), "db", "upgrade", env=cli_env(tmp_path / "home"), cwd=tmp_path
    )

    assert result.returncode == 2
    assert "jobz (env AWOOOI_JOBZ): unknown setting" in squeeze(result.stderr)
    assert "Traceback" not in result.stderr


def test_yaml_file_with_non_string_key_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "awoooi.yaml"
    config.write_text("1: a\n", encoding="utf-8")

    result = awoooi_cli(
        "--config", str(config), "db", "upgrade", env=cli_env(tmp_path / "home"), cwd=tmp_path
    )

    assert result.returncode == 2
    assert "setting names must be strings" in squeeze(result.stderr)
    assert "Traceback" not in result.stderr


def test_awoooi_config_pointing_at_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    env = cli_env(tmp_path / "home", AWOOOI_CONFIG=str(missing))

    result = awoooi_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert "cannot read config file" in squeeze(result.stderr)
    assert str(missing) in unwrapped(result.stderr)
    assert "Traceback" not in result.stderr


def test_awoooi_config_is_read(tmp_path: Path) -> None:
    config = tmp_path / "awoooi.yaml"
    database = tmp_path / "from-yaml.db"
    config.write_text(f"database_url: sqlite+aiosqlite:///{database}\n", encoding="utf-8")
    env = cli_env(tmp_path / "home", AWOOOI_CONFIG=str(config))

    result = awoooi_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert database.is_file()
    assert not (tmp_path / "home" / "awoooi.db").exists()


# --- tokens -------------------------------------------------------------------------------------


async def audit_entries(
    database_url: str,
) -> list[tuple[str, str, str, str, dict[str, object]]]:
    engine = create_engine(database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            entries = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            return [(e.actor, e.action, e.target, e.outcome, dict(e.detail)) for e in entries]
    finally:
        await engine.dispose()


async def stored_token(database_url: str, name: str) -> ApiToken | None:
    engine = create_engine(database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            return await session.scalar(select(ApiToken).where(ApiToken.name == name))
    finally:
        await engine.dispose()


async def test_token_lifecycle(tmp_path: Path, env: dict[str, str], database_url: str) -> None:
    # --yes: the database does not exist yet, and only then may a command create it.
    created = awoooi_cli(
        "tokens", "create", "--name", "ci", "--role", "operator", "--yes", env=env, cwd=tmp_path
    )

    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1
    secret = lines[0].strip()
    assert secret.startswith("awi_")
    assert len(secret) > 40
    assert secret not in created.stderr
    assert "shown only this once" in created.stderr

    record = await stored_token(database_url, "ci")
    assert record is not None
    assert record.role == "operator"
    assert record.token_hash == hash_token(secret)  # only the hash is stored
    assert record.created_by.startswith("cli")
    assert record.revoked_at is None

    listed = awoooi_cli("tokens", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [row[:2] for row in table_rows(listed.stdout)] == [["ci", "operator"]]
    assert secret not in listed.stdout + listed.stderr
    assert secret[8:24] not in listed.stdout  # not even a slice past the displayed prefix

    duplicate = awoooi_cli(
        "tokens", "create", "--name", "ci", "--role", "viewer", env=env, cwd=tmp_path
    )
    assert duplicate.returncode == 1
    assert "a token named 'ci' already exists" in squeeze(duplicate.stderr)
    assert duplicate.stdout == ""  # no second secret was issued
    assert "Traceback" not in duplicate.stderr

    bogus = awoooi_cli(
        "tokens", "create", "--name", "ci2", "--role", "bogus", env=env, cwd=tmp_path
    )
    assert bogus.returncode == 2
    assert "--role" in bogus.stderr
    assert bogus.stdout == ""
    assert await stored_token(database_url, "ci2") is None

    revoked = awoooi_cli("tokens", "revoke", "ci", env=env, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked token 'ci'" in revoked.stderr
    record = await stored_token(database_url, "ci")
    assert record is not None
    assert record.revoked_at is not None

    again = awoooi_cli("tokens", "revoke", "ci", env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert "token 'ci' is already revoked" in squeeze(again.stderr)
    assert "Traceback" not in again.stderr

    unknown = awoooi_cli("tokens", "revoke", "nope", env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "no token named 'nope'" in squeeze(unknown.stderr)

    entries = await audit_entries(database_url)
    assert all(actor.startswith("cli") for actor, *_ in entries)
    succeeded = [
        (action, target, detail)
        for _, action, target, outcome, detail in entries
        if outcome == "ok"
    ]
    assert succeeded == [
        ("token.create", "token:ci", {"role": "operator"}),
        ("token.revoke", "token:ci", {}),
    ]


def test_invalid_token_name_exits_1(tmp_path: Path, env: dict[str, str]) -> None:
    result = awoooi_cli(
        "tokens",
        "create",
        "--name",
        "no spaces",
        "--role",
        "viewer",
        "--yes",
        env=env,
        cwd=tmp_path,
    )

    assert result.returncode == 1
    assert "token names are" in squeeze(result.stderr)
    assert result.stdout == ""


def test_jobs_list_on_empty_database(tmp_path: Path, env: dict[str, str]) -> None:
    result = awoooi_cli("jobs", "list", "--yes", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "kind" in result.stdout
    assert "status" in result.stdout
    assert table_rows(result.stdout) == []


def test_jobs_retry_unknown_job_exits_1(tmp_path: Path, env: dict[str, str]) -> None:
    result = awoooi_cli("jobs", "retry", "999", "--yes", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "no job 999" in squeeze(result.stderr)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("repairs", "show", "99999999999999999999"),
        ("kb", "show", "2147483648"),
        ("drift", "show", "2147483648"),
        ("jobs", "retry", "2147483648"),
    ],
)
def test_an_id_no_row_can_have_is_refused_before_any_database(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # Refused by the argument parser (exit 2, naming the limit), not by the database driver.
    result = awoooi_cli(*args, env=cli_env(tmp_path / "home"), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "2147483647" in squeeze(result.stderr)
    assert not (tmp_path / "home").exists()

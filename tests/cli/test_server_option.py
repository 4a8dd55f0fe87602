"""Issue 18 items 4 and 5: the CLI reaches a running `awoooi serve` with --server/--token (or
AWOOOI_SERVER/AWOOOI_TOKEN) and prints what it prints on the local database; every list and
show command has `--format json`; a command that would create a new database refuses.

Real processes throughout: one `awoooi serve` on 127.0.0.1 per database (SQLite and
PostgreSQL), and each CLI run a subprocess from a directory that is not the repository."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from awoooi.runtime import ADMIN_TOKEN_FILE
from tests.helpers.serve import AWOOOI, awoooi_process, cli_env, free_port, healthy, wait_until

CLI_TIMEOUT = 60
ID_PATTERN_LENGTH = len("INC-20260101-0001")


@dataclass
class Server:
    """A running `awoooi serve` and what the test made in it."""

    url: str
    token: str
    home: Path
    database_url: str
    incident: str
    entry_id: int
    workdir: Path


def awoooi(
    *args: str, env: dict[str, str], cwd: Path, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # a fixed argv, no shell
        [str(AWOOOI), *args],
        env={**env, "COLUMNS": str(columns)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    home = tmp_path / "server-home"
    port = free_port()
    env = cli_env(home, database_url, AWOOOI_JOBS__RUN_IN_SERVE="false")
    with (
        awoooi_process("serve", "--port", str(port), env=env, directory=tmp_path / "run") as proc,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        wait_until(proc, lambda: healthy(client), "/healthz")
        token = (home / ADMIN_TOKEN_FILE).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        ingested = client.post(
            "/api/v1/alerts",
            headers=headers,
            json={
                "alerts": [
                    {
                        "name": "CheckoutLatencyHigh",
                        "severity": "high",
                        "summary": "checkout p99 latency above 2s",
                        "labels": {"namespace": "shop", "service": "checkout"},
                    }
                ]
            },
        )
        assert ingested.status_code == 202, ingested.text
        created = client.post(
            "/api/v1/knowledge",
            headers=headers,
            json={
                "title": "Checkout latency runbook",
                "content": "When checkout latency rises, look at the payment gateway first.",
                "tags": ["checkout"],
            },
        )
        assert created.status_code == 201, created.text
        workdir = tmp_path / "elsewhere"
        workdir.mkdir()
        yield Server(
            url=f"http://127.0.0.1:{port}",
            token=token,
            home=home,
            database_url=database_url,
            incident=ingested.json()["incidents"][0],
            entry_id=created.json()["id"],
            workdir=workdir,
        )
        proc.assert_alive()


def local_env(server: Server) -> dict[str, str]:
    """The server's own database, read directly."""
    return cli_env(server.home, server.database_url)


def remote_env(server: Server, tmp_path: Path) -> dict[str, str]:
    """No database settings at all (an empty home): only the server to ask."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWOOOI_")}
    env.update(
        AWOOOI_HOME=str(tmp_path / "client-home"),
        AWOOOI_SERVER=server.url,
        AWOOOI_TOKEN=server.token,
    )
    return env


def same_output(server: Server, tmp_path: Path, *args: str, columns: int = 200) -> str:
    """Run ARGS locally and through the server; both succeed and print the same; stdout."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        local_run = pool.submit(
            awoooi, *args, env=local_env(server), cwd=server.workdir, columns=columns
        )
        remote_run = pool.submit(
            awoooi, *args, env=remote_env(server, tmp_path), cwd=server.workdir, columns=columns
        )
        local, remote = local_run.result(), remote_run.result()
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout, f"local:\n{local.stdout}\nremote:\n{remote.stdout}"
    assert remote.stderr == ""
    return remote.stdout


# Each command runs four times (local and remote, table and JSON): a few per test, so that one
# test stays well inside the timeout on a busy machine.
READS = [
    ("incidents", "list"),
    ("incidents", "show", "{incident}"),
    ("kb", "search", "checkout latency"),
    ("kb", "show", "{entry}"),
    ("jobs", "list"),
    ("repairs", "list"),
    ("notify", "list"),
    ("drift", "reports"),
    ("playbooks", "list"),
]


# Printing is the same views whatever the database (the API and the local backend's PostgreSQL
# reads have their own tests): the tests that only print run on SQLite, each CLI run a process.
ONE_DATABASE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.timeout(600)
@ONE_DATABASE
def test_reads_print_the_same_locally_and_through_the_server(
    server: Server, tmp_path: Path
) -> None:
    outputs = []
    for command in READS:
        words = [word.format(incident=server.incident, entry=server.entry_id) for word in command]
        outputs.append(
            (
                same_output(server, tmp_path, *words),
                same_output(server, tmp_path, *words, "--format", "json"),
            )
        )
    for table, as_json in outputs:
        json.loads(as_json)  # one JSON document, nothing else on stdout
        assert table != as_json
    incident = json.loads(outputs[1][1])
    assert incident["id"] == server.incident
    assert incident["affected_services"] == ["checkout"]
    hits = json.loads(outputs[2][1])["items"]
    assert [hit["id"] for hit in hits] == [server.entry_id]
    providers = json.loads(same_output(server, tmp_path, "ai", "providers", "--format", "json"))
    assert [provider["name"] for provider in providers] == ["nemotron", "ollama"]
    # The client never made a database of its own.
    assert not (tmp_path / "client-home").exists()


def test_options_after_the_command_and_at_the_root(server: Server, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWOOOI_")}
    env["AWOOOI_HOME"] = str(tmp_path / "client-home")
    after = awoooi(
        "incidents",
        "list",
        "--server",
        server.url,
        "--token",
        server.token,
        "--format",
        "json",
        env=env,
        cwd=server.workdir,
    )
    before = awoooi(
        "--server",
        server.url,
        "--token",
        server.token,
        "incidents",
        "list",
        "--format",
        "json",
        env=env,
        cwd=server.workdir,
    )

    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    assert [item["id"] for item in json.loads(after.stdout)["items"]] == [server.incident]


def test_actions_go_through_the_api_as_the_token(server: Server, tmp_path: Path) -> None:
    env = remote_env(server, tmp_path)

    approved = awoooi("kb", "approve", str(server.entry_id), env=env, cwd=server.workdir)
    token = awoooi(
        "tokens",
        "create",
        "--name",
        "pager",
        "--role",
        "viewer",
        "--format",
        "json",
        env=env,
        cwd=server.workdir,
    )

    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == f"entry {server.entry_id} is now PUBLISHED"
    assert token.returncode == 0, token.stderr
    issued = json.loads(token.stdout)
    assert issued["name"] == "pager"
    assert issued["token"].startswith("awi_")
    audit = httpx.get(
        f"{server.url}/api/v1/audit",
        headers={"Authorization": f"Bearer {server.token}"},
        params={"action": "knowledge.approve"},
        timeout=30,
    ).json()
    # Done by the server on the token's behalf, not by a local `cli:user`.
    assert [entry["door"] for entry in audit] == ["api"]
    # Not compared with the local run: each remote request moves the admin's `last used`.
    listed = awoooi("tokens", "list", "--format", "json", env=env, cwd=server.workdir)
    assert listed.returncode == 0, listed.stderr
    assert "pager" in [row["name"] for row in json.loads(listed.stdout)]


@ONE_DATABASE
def test_server_errors_print_the_servers_message(server: Server, tmp_path: Path) -> None:
    env = remote_env(server, tmp_path)

    missing = awoooi("incidents", "show", "INC-19990101-0001", env=env, cwd=server.workdir)
    local = awoooi(
        "incidents", "show", "INC-19990101-0001", env=local_env(server), cwd=server.workdir
    )
    bad_token = awoooi(
        "jobs", "list", env={**env, "AWOOOI_TOKEN": "awi_" + "x" * 43}, cwd=server.workdir
    )
    refused = awoooi(
        "jobs",
        "list",
        env={**env, "AWOOOI_SERVER": f"http://127.0.0.1:{free_port()}"},
        cwd=server.workdir,
    )
    no_token = awoooi(
        "jobs",
        "list",
        env={k: v for k, v in env.items() if k != "AWOOOI_TOKEN"},
        cwd=server.workdir,
    )

    assert missing.returncode == local.returncode == 1
    assert missing.stderr == local.stderr == "error: no incident INC-19990101-0001\n"
    assert bad_token.returncode == 1
    assert bad_token.stderr.startswith("error: ")
    assert "token" in bad_token.stderr
    assert refused.returncode == 1
    assert "cannot reach the server" in refused.stderr
    assert no_token.returncode == 1
    assert "--token" in no_token.stderr
    for done in (missing, bad_token, refused, no_token):
        assert done.stdout == ""
        assert "Traceback" not in done.stderr


@pytest.mark.timeout(300)
@ONE_DATABASE
def test_tables_fit_80_columns_with_whole_ids(server: Server, tmp_path: Path) -> None:
    for command in (("incidents", "list"), ("kb", "search", "checkout"), ("jobs", "list")):
        shown = same_output(server, tmp_path, *command, columns=80)
        assert max(len(line) for line in shown.splitlines()) <= 80, shown
    incidents = same_output(server, tmp_path, "incidents", "list", columns=80)
    assert server.incident in incidents  # on one line, not cut or folded
    assert len(server.incident) == ID_PATTERN_LENGTH


def without_awoooi_env() -> dict[str, Any]:
    return {key: value for key, value in os.environ.items() if not key.startswith("AWOOOI_")}


@pytest.mark.parametrize(
    "command",
    [
        ("incidents", "list"),
        ("jobs", "list"),
        ("kb", "search", "x"),
        ("drift", "reports"),
        ("tokens", "list"),
    ],
)
def test_a_command_that_would_create_a_database_refuses(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = awoooi(*command, env=without_awoooi_env(), cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert f"no awoooi database at {tmp_path / '.awoooi' / 'awoooi.db'}" in message
    assert "awoooi db upgrade" in message
    assert "--yes" in message
    assert "--server" in message
    assert done.stdout == ""
    assert not (tmp_path / ".awoooi").exists()


def test_yes_or_db_upgrade_create_the_database(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    created = awoooi("incidents", "list", "--yes", env=without_awoooi_env(), cwd=first)
    upgraded = awoooi("db", "upgrade", env=without_awoooi_env(), cwd=second)
    listed = awoooi("incidents", "list", "--format", "json", env=without_awoooi_env(), cwd=second)

    assert created.returncode == 0, created.stderr
    assert (first / ".awoooi" / "awoooi.db").is_file()
    assert upgraded.returncode == 0, upgraded.stderr
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"items": [], "total": 0, "limit": 50, "offset": 0}

"""Commands that read the local database, or ask a server, import neither FastAPI nor the runtime:
those imports (and building every subsystem) were most of each command's second."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import CLI_TIMEOUT, awoooi_cli, cli_env

# The API framework and the composition root, which imports every subsystem.
HEAVY_MODULES = ("fastapi", "awoooi.runtime", "lightkube")

LOCAL_READS = [
    ["incidents", "list"],
    ["incidents", "show", "INC-1"],
    ["kb", "search", "x"],
    ["kb", "list"],
    ["jobs", "list"],
    ["repairs", "list"],
    ["notify", "list"],
    ["drift", "reports"],
    ["playbooks", "list"],
    ["tokens", "list"],
]
REMOTE_READS = [
    ["incidents", "list"],
    ["incidents", "show", "INC-1"],
    ["kb", "search", "x"],
    ["repairs", "list"],
    ["drift", "reports"],
    ["ai", "providers"],
]


def imported_heavy(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    """Run the CLI in a fresh interpreter; its exit code and the heavy modules it imported."""
    probe = (
        "import json, sys\n"
        "from awoooi.cli.main import app\n"
        "code = 0\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code or 0\n"
        f"found = sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)\n"
        "print(json.dumps([code, found]), file=sys.stderr)\n"
    )
    result = subprocess.run(  # the probe is this file's own code
        [sys.executable, "-c", probe],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    code, found = json.loads(result.stderr.strip().splitlines()[-1])
    return int(code), list(found)


@pytest.fixture(scope="module")
def sqlite_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    upgraded = awoooi_cli("db", "upgrade", env=cli_env(home), cwd=home)
    assert upgraded.returncode == 0, upgraded.stderr
    return home


@pytest.mark.parametrize("argv", LOCAL_READS, ids=" ".join)
def test_local_reads_open_the_database_alone(argv: list[str], sqlite_home: Path) -> None:
    code, found = imported_heavy(argv, cli_env(sqlite_home), sqlite_home)

    # `incidents show INC-1` answers "no incident" (1): the database was read all the same.
    assert code == (1 if argv[1] == "show" else 0)
    assert found == []


@pytest.mark.parametrize("argv", REMOTE_READS, ids=" ".join)
def test_remote_reads_import_no_server_code(argv: list[str], tmp_path: Path) -> None:
    # Nothing listens on port 9 (discard): the command fails after its imports, exit 1.
    env = cli_env(tmp_path, AWOOOI_SERVER="http://127.0.0.1:9", AWOOOI_TOKEN="awi_x")

    code, found = imported_heavy(argv, env, tmp_path)

    assert code == 1
    assert found == []


def test_an_action_on_services_still_builds_the_runtime(sqlite_home: Path) -> None:
    # Approving a repair needs the repair service: the runtime is built, and answers "no repair".
    code, found = imported_heavy(["repairs", "approve", "1"], cli_env(sqlite_home), sqlite_home)

    assert code == 1
    assert "awoooi.runtime" in found

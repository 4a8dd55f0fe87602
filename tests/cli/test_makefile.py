"""Issue 18 item 7: `make run` honours PORT / AWOOOI_PORT and HOST / AWOOOI_HOST, and the
README's Quick start waits for the server instead of failing while it starts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def serve_line(*args: str, **env: str) -> str:
    """The `awoooi serve` command `make -n run` would run (nothing is run)."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    outer = {
        key: value
        for key, value in os.environ.items()
        if key not in {"HOST", "PORT", "AWOOOI_HOST", "AWOOOI_PORT"}
    }
    done = subprocess.run(  # a fixed argv, no shell; -n prints the recipe without running it
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=ROOT,
        env={**outer, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [line for line in done.stdout.splitlines() if "awoooi serve" in line]
    assert len(lines) == 1, done.stdout
    return lines[0]


def test_defaults_to_localhost_8080() -> None:
    assert serve_line().endswith("awoooi serve --host 127.0.0.1 --port 8080")


def test_port_and_host_on_the_command_line() -> None:
    assert serve_line("PORT=9999").endswith("--host 127.0.0.1 --port 9999")
    assert serve_line("HOST=0.0.0.0", "PORT=9001").endswith("--host 0.0.0.0 --port 9001")


def test_port_and_host_from_the_environment() -> None:
    assert serve_line(PORT="9002").endswith("--port 9002")
    assert serve_line(AWOOOI_PORT="9003", AWOOOI_HOST="127.0.0.2").endswith(
        "--host 127.0.0.2 --port 9003"
    )
    # The make variable names the issue gives win over awoooi's own.
    assert serve_line(PORT="9004", AWOOOI_PORT="9003").endswith("--port 9004")


def test_quick_start_waits_for_readiness() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick_start.split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert lines[0] == "make run &"
    wait = lines[1]
    assert wait.startswith("curl ")
    assert re.search(r"--retry \d+", wait)
    assert "--retry-connrefused" in wait
    assert "/healthz" in wait
    assert re.search(r"first `make run`.*about \d+ s on a first install", quick_start, re.S)

"""Real processes for end-to-end tests: `awoooi serve` and friends on free local ports.

The same approach as tests/cli/test_serve.py: output goes to files (no pipe can fill up), every
wait is bounded and polled, and the process is killed on the way out whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

AWOOOI = Path(sys.executable).parent / "awoooi"
START_TIMEOUT = 30.0  # bounds on waiting, never asserted as durations
STOP_TIMEOUT = 30.0
POLL = 0.1


def in_ci() -> bool:
    """Whether env CI says this is a CI run (where nothing may silently skip)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def cli_env(home: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The outer environment without AWOOOI_*, plus this test's home and database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWOOOI_")}
    env["AWOOOI_HOME"] = str(home)
    env["AWOOOI_DATABASE_URL"] = database_url
    env["AWOOOI_LOG_FORMAT"] = "json"
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A running subprocess whose output goes to files."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written to stderr so far."""
        found = []
        for line in self.stderr.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                found.append(event)
        return found

    def assert_alive(self) -> None:
        code = self.popen.poll()
        assert code is None, f"{self.name} exited early with {code}:\n{self.output()}"

    def terminate(self) -> int:
        """SIGTERM, then the exit code (bounded wait)."""
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} ignored SIGTERM:\n{self.output()}")


@contextmanager
def background_process(
    argv: Sequence[str], *, name: str, env: dict[str, str], directory: Path
) -> Iterator[Process]:
    """Start argv (no shell) in `directory`; kill it on the way out whatever happened."""
    directory.mkdir(parents=True, exist_ok=True)
    stdout = directory / f"{name}.stdout"
    stderr = directory / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        popen = subprocess.Popen(  # a fixed argv, no shell
            list(argv), env=env, cwd=directory, stdout=out, stderr=err
        )
    process = Process(name, popen, stdout, stderr)
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=STOP_TIMEOUT)


@contextmanager
def awoooi_process(*args: str, env: dict[str, str], directory: Path) -> Iterator[Process]:
    """Start `awoooi ARGS`; kill it on the way out whatever happened."""
    name = "awoooi-" + "-".join(args[:1])
    with background_process(
        [str(AWOOOI), *args], name=name, env=env, directory=directory
    ) as process:
        yield process


def run_awoooi(*args: str, env: dict[str, str], directory: Path) -> str:
    """Run a short `awoooi ARGS` command to completion; its stdout (fails with its output)."""
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(  # a fixed argv, no shell
        [str(AWOOOI), *args],
        env=env,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"awoooi {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def wait_until(
    processes: Process | Sequence[Process],
    condition: Callable[[], bool],
    what: str,
    timeout: float = START_TIMEOUT,
    describe: Callable[[], str] | None = None,
) -> None:
    """Poll `condition` until true; fail (with every process's output) past `timeout` seconds
    or as soon as one of the processes has died."""
    watched = [processes] if isinstance(processes, Process) else list(processes)
    deadline = time.monotonic() + timeout
    while not condition():
        for process in watched:
            process.assert_alive()
        if time.monotonic() > deadline:
            outputs = "\n".join(f"--- {p.name} ---\n{p.output()}" for p in watched)
            last = f"\nlast state: {describe()}" if describe else ""
            pytest.fail(f"gave up waiting for {what}{last}\n{outputs}")
        time.sleep(POLL)


def responds(client: httpx.Client, path: str) -> bool:
    """Whether GET path answers 200 (connection errors count as no)."""
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False


def healthy(client: httpx.Client) -> bool:
    """Whether awoooi answers /healthz."""
    return responds(client, "/healthz")

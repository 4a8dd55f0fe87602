"""README "First hour", run as written: every `sh first-hour` block against a fresh `awoooi serve`.

The section's one untested block starts the server (`make run`) and exports `AWOOOI_SERVER` and
`AWOOOI_TOKEN`; this test starts `awoooi serve` itself on a free port in a temporary home (the
environment assignments in front of `make run` included) and sets those two variables. Then each
command runs in order, argv split with shlex (no shell; `$NAME` expanded from that fixed
environment), in a directory holding a copy of examples/, and each line of the `text` block
after a command block must appear in the commands' output: `…` stands for anything, runs of
spaces match any spacing, and dates, times and incident ids match any value (the commands get
the incident id the server gave). SQLite is enough here: the flows are tested on both databases
in their own suites.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.helpers.kube_api import refusing_port
from tests.helpers.serve import AWOOOI, awoooi_process, cli_env, free_port, healthy, wait_until

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
EXIT_COMMENT = re.compile(r"#\s*exit\s+(\d+)\s*$")
INCIDENT = re.compile(r"INC-\d{8}-\d{4}")
# Values that differ on every run: any value of the same shape matches.
VARYING = re.compile(r"INC-\d{8}-|\d{4}-\d{2}-\d{2}|\d{2}:\d{2}(?::\d{2})?")
# A read may run before the worker has finished with the alert: it is asked again until then.
READS = {"list", "show", "search"}
SETTLE_TIMEOUT = 60.0


@dataclass
class Step:
    """One `sh first-hour` block: its commands and the lines its output must hold."""

    commands: list[str]
    expected: list[str] = field(default_factory=list)


def section(text: str) -> str:
    """The README's "First hour" section."""
    start = text.index("\n## First hour\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def steps(text: str) -> tuple[dict[str, str], list[Step]]:
    """The settings put in front of `make run`, and the tested steps in order."""
    serve_env: dict[str, str] = {}
    found: list[Step] = []
    for match in FENCE.finditer(section(text)):
        info, body = match.group(1).split(), match.group(2)
        lines = [line for line in body.splitlines() if line.strip()]
        if info[:1] == ["sh"] and "first-hour" not in info:
            for line in lines:
                words = shlex.split(line, comments=True)
                if "make" in words:
                    serve_env.update(w.split("=", 1) for w in words[: words.index("make")])  # type: ignore[misc]
        elif "first-hour" in info:
            found.append(Step(lines))
        elif info[:1] == ["text"] and found and not found[-1].expected:
            found[-1].expected = [line for line in lines if line.strip() != "…"]
    return serve_env, found


def pattern(expected: str) -> re.Pattern[str]:
    """An expected line as a regex over one output line."""
    parts = []
    for piece in expected.strip().split("…"):
        literal = " ".join(piece.split())
        regex, at = "", 0
        for shape in VARYING.finditer(literal):
            regex += re.escape(literal[at : shape.start()]) + re.sub(r"\d", r"\\d", shape[0])
            at = shape.end()
        parts.append((regex + re.escape(literal[at:])).replace(r"\ ", r"\s+"))
    return re.compile(".*?".join(parts))


def missing(expected: list[str], output: str) -> list[str]:
    """The expected lines no output line holds."""
    lines = output.splitlines()
    return [e for e in expected if not any(pattern(e).search(line) for line in lines)]


def argv(command: str, env: dict[str, str], incident: str | None) -> tuple[list[str], int]:
    """The command's argv (variables expanded, the real incident id) and its exit code."""
    assert not re.search(r"[|;&<>`]|\$\(", command.split("#")[0]), (
        f"not a simple command: {command}"
    )
    code = EXIT_COMMENT.search(command)
    words = shlex.split(command, comments=True)
    words = [VARIABLE.sub(lambda m: env[m.group(1) or m.group(2)], word) for word in words]
    if incident is not None:
        words = [INCIDENT.sub(incident, word) for word in words]
    program = {"awoooi": str(AWOOOI), "curl": shutil.which("curl")}[words[0]]
    assert program is not None, "curl is needed to run the README's commands"
    return [program, *words[1:]], int(code.group(1)) if code else 0


def is_read(words: list[str]) -> bool:
    """Whether running the command again changes nothing."""
    if words[0].endswith("curl"):
        return "--data" not in words and "-X" not in words
    return any(word in READS for word in words[1:3])


def run(step: Step, commands: list[tuple[list[str], int]], env: dict[str, str], work: Path) -> str:
    """Run a step's commands in order (each must exit as the README says); their stdout."""
    output = ""
    for command, (words, code) in zip(step.commands, commands, strict=True):
        done = subprocess.run(  # the README's argv, no shell
            words, env=env, cwd=work, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == code, (
            f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
        output += done.stdout if done.stdout.endswith("\n") else done.stdout + "\n"
    return output


@pytest.fixture
def providers() -> Iterator[str]:
    """Both default local providers, on ports that refuse: "no local model" on any machine."""
    with refusing_port() as nim, refusing_port() as ollama:
        yield json.dumps(
            [
                {"name": "nemotron", "kind": "openai", "model": "nemotron",
                 "base_url": f"http://127.0.0.1:{nim}/v1"},
                {"name": "ollama", "kind": "ollama", "model": "llama3.1",
                 "base_url": f"http://127.0.0.1:{ollama}"},
            ]
        )  # fmt: skip


@pytest.mark.timeout(300)
def test_the_first_hour_walkthrough_runs_as_written(tmp_path: Path, providers: str) -> None:
    serve_env, walkthrough = steps(README.read_text())
    assert serve_env == {"AWOOOI_CONFIG": "examples/first-hour/awoooi.yaml"}
    assert len(walkthrough) >= 6
    assert all(step.expected for step in walkthrough)
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    home = work / ".awoooi"
    port = free_port()
    env = cli_env(
        home,
        f"sqlite+aiosqlite:///{home / 'awoooi.db'}",
        AWOOOI_AI__PROVIDERS=providers,
        COLUMNS="100",
        **serve_env,
    )
    with (
        awoooi_process("serve", "--port", str(port), env=env, directory=work) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        wait_until(server, lambda: healthy(client), "awoooi to serve")
        env = {
            **env,
            "AWOOOI_SERVER": f"http://127.0.0.1:{port}",
            "AWOOOI_TOKEN": (home / "admin-token").read_text().strip(),
        }
        incident: str | None = None
        for step in walkthrough:
            commands = [argv(command, env, incident) for command in step.commands]
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while True:
                output = run(step, commands, env, work)
                if not missing(step.expected, output) or time.monotonic() > deadline:
                    break
                if not all(is_read(words) for words, _ in commands):
                    break
                time.sleep(0.5)
            assert not missing(step.expected, output), (
                f"{step.commands}: missing {missing(step.expected, output)}\n{output}"
            )
            incident = incident or next(iter(INCIDENT.findall(output)), None)
        server.assert_alive()

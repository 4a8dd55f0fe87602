"""The process runner every adapter uses: argument lists only, a typed error with the redacted
tail of stderr, a clear message when the program is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from awoooi.adapters.process import STDERR_TAIL_LINES, ProcessError, run_process


async def test_stdout_comes_back_and_arguments_reach_no_shell(tmp_path: Path) -> None:
    out = await run_process(
        [sys.executable, "-c", "import sys; print(sys.argv[1])", "a; touch pwned $(id)"],
        label="python",
        timeout=30,
        cwd=tmp_path,
    )

    assert out == b"a; touch pwned $(id)\n"
    assert not (tmp_path / "pwned").exists()


async def test_a_failure_carries_the_redacted_tail_of_stderr() -> None:
    script = (
        "import sys\n"
        "for n in range(50): print(f'line {n}', file=sys.stderr)\n"
        "print('cannot log in: password=hunter2', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    with pytest.raises(ProcessError, match=r"^python failed \(exit 3\): ") as caught:
        await run_process([sys.executable, "-c", script], label="python", timeout=30)

    error = caught.value
    assert error.returncode == 3
    assert not error.timed_out
    assert "hunter2" not in error.detail
    assert "hunter2" not in error.stderr
    assert error.stderr.endswith("cannot log in: password=[REDACTED:password]")
    assert len(error.stderr.splitlines()) == STDERR_TAIL_LINES


async def test_a_timeout_is_typed() -> None:
    with pytest.raises(ProcessError, match=r"^python timed out after 0.5s$") as caught:
        await run_process(
            [sys.executable, "-c", "import time; time.sleep(60)"], label="python", timeout=0.5
        )
    assert caught.value.timed_out
    assert caught.value.returncode is None


async def test_a_missing_program_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match=r"^no-such-tool is not installed"):
        await run_process([str(tmp_path / "no-such-tool")], label="no-such-tool", timeout=5)


async def test_the_error_type_is_the_callers() -> None:
    class ToolError(ProcessError):
        code = "tool_error"

    with pytest.raises(ToolError):
        await run_process(
            [sys.executable, "-c", "raise SystemExit(1)"], label="tool", timeout=30, error=ToolError
        )

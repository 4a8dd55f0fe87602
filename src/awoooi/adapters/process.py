"""Running a program for an adapter (git, kubectl): an argument list, never a shell; a time limit
that kills it with everything it started; a redacted tail of its stderr in the error."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from awoooi.core.errors import AwoooiError
from awoooi.core.redact import redact

# How much of a program's stderr an error message keeps (the reason is in the last lines).
STDERR_TAIL_CHARS = 2000
STDERR_TAIL_LINES = 20


class ProcessError(AwoooiError):
    """A program could not start, timed out, or exited non-zero."""

    status_code = 502
    code = "process_error"

    def __init__(
        self,
        message: str,
        *,
        returncode: int | None = None,
        stderr: str = "",
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.returncode = returncode  # None: the program did not finish (refused, timed out)
        self.stderr = stderr  # the redacted tail of its stderr
        self.timed_out = timed_out


def stderr_tail(raw: bytes) -> str:
    """The last lines of a program's stderr, redacted (URLs in it may carry credentials)."""
    text = raw.decode("utf-8", "replace").strip()
    lines = text.splitlines()[-STDERR_TAIL_LINES:]
    return redact("\n".join(lines)[-STDERR_TAIL_CHARS:])


def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the program and whatever it started (helpers, ssh): they share its session."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def run_process(
    argv: Sequence[str],
    *,
    label: str,
    timeout: float,  # noqa: ASYNC109 - it also kills the program, which asyncio.timeout cannot
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    error: type[ProcessError] = ProcessError,
) -> bytes:
    """Run `argv` (no shell) and return its stdout; `error` (a ProcessError) when it cannot
    start, times out or fails, its messages starting with `label`."""
    if not argv:
        raise error(f"{label}: no command given")
    program = Path(argv[0]).name
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # A session of its own: no controlling terminal (nothing can prompt), and one
            # killpg stops the program's helpers too.
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise error(f"{program} is not installed (no `{program}` on PATH)") from exc
    except OSError as exc:
        raise error(f"{label}: cannot start {program}: {exc}") from exc
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        _kill(process)
        await process.wait()
        raise error(f"{label} timed out after {timeout:g}s", timed_out=True) from None
    except BaseException:  # cancelled: the program must not outlive its caller
        _kill(process)
        with contextlib.suppress(BaseException):
            await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        tail = stderr_tail(stderr)
        raise error(
            f"{label} failed (exit {process.returncode})" + (f": {tail}" if tail else ""),
            returncode=process.returncode,
            stderr=tail,
        )
    return stdout

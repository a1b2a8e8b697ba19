"""A short-lived command the app waits for (`opencode --version`, `opencode upgrade`): its output
within a time limit, and nothing of it left running after, whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping


async def start_one_shot(
    *argv: str, env: Mapping[str, str] | None = None, stderr_to_stdout: bool = False
) -> asyncio.subprocess.Process:
    """Start the command with no stdin, its output piped, in a session of its own (so that
    `kill_group` reaches whatever it starts). OSError when it cannot be run."""
    return await asyncio.create_subprocess_exec(
        *argv,
        env=None if env is None else dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if stderr_to_stdout else asyncio.subprocess.PIPE,
        start_new_session=sys.platform != "win32",
    )


async def output_within(proc: asyncio.subprocess.Process, timeout_s: float) -> tuple[bytes, bytes]:
    """`proc`'s stdout and stderr once it ends. Timed out (TimeoutError) or cancelled: it is
    killed, with whatever it started, and waited for before the error goes on."""
    try:
        return await asyncio.wait_for(proc.communicate(), timeout_s)
    except BaseException:
        kill_group(proc)
        await proc.wait()
        raise


def kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the command and whatever it started (a launcher script starts node or bun): it runs
    in a session of its own, except on Windows."""
    with contextlib.suppress(ProcessLookupError):
        if sys.platform == "win32":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)


def last_line(text: str, limit: int, decoration: str = "") -> str:
    """The last line of `text` with more than blanks and `decoration` characters in it, cut to
    `limit` characters ("" when there is none)."""
    lines = [line.strip() for line in text.splitlines() if line.strip().strip(decoration)]
    return lines[-1][:limit] if lines else ""

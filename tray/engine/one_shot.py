"""A short-lived command the app waits for (`opencode --version`, `opencode upgrade`): its output
within a time limit, and nothing of it left running after, whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys


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

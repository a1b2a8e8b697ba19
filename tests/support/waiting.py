"""Waiting for what no event announces (another process's state, a widget, a log line): look
again every `every` seconds until `check` holds or `within` seconds have passed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")
# What a check returns: the thing waited for, or a false value (say, `ready and thing`).
Check = Callable[[], T | Literal[False] | None]


def _timed_out(what: str, within: float) -> AssertionError:
    return AssertionError(f"timed out after {within:g} s waiting for {what}")


async def wait_until(check: Check[T], what: str, within: float, every: float = 0.05) -> T:
    """The first true value of `check` (it may be the thing waited for); fails after `within`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(every)
    value = check()
    if not value:
        raise _timed_out(what, within)
    return value


def block_until(check: Check[T], what: str, within: float, every: float = 0.1) -> T:
    """`wait_until` for a test without an event loop (the app in a child process)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    value = check()
    if not value:
        raise _timed_out(what, within)
    return value

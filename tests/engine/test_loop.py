"""The loop the engine runs on. qasync wakes itself from other threads (the child watcher when
the server exits, DNS lookups, executors) by emitting a Qt signal, so emitting must not corrupt
Python's objects: PySide6 6.12.0 drops a reference to `True` on every Python-side emit, and on
Python 3.11 (where `True` is not immortal) the app then dies with "bool_dealloc" after about a
thousand wake-ups."""

from __future__ import annotations

import asyncio
import sys

WAKE_UPS = 200


async def test_waking_the_loop_from_threads_keeps_true_alive() -> None:
    loop = asyncio.get_running_loop()
    before = sys.getrefcount(True)
    for _ in range(WAKE_UPS):
        await loop.run_in_executor(None, lambda: None)
    lost = before - sys.getrefcount(True)
    assert lost < WAKE_UPS // 4, f"{lost} references to True lost in {WAKE_UPS} wake-ups"

"""Python's cyclic garbage collector, run on the main thread only.

The collector runs in whichever thread allocates when a collection falls due. In the app that
may be the front door's thread, and a garbage cycle that holds Qt objects (a closed loop's timers
and socket notifiers, a window's wrappers) must be destroyed on Qt's own thread: destroyed from
another one, Qt crashed in its event loop (seen in the test suite, where pytest-xdist's receiver
thread collected). So automatic collection is off, and `collect_due` runs on the main thread at
a slow tick: it collects the generations the automatic collector would have collected by now.
Reference counting still frees everything that is not in a cycle at once.
"""

from __future__ import annotations

import asyncio
import gc

TICK_S = 30.0  # one wakeup per 30 s; only garbage in cycles waits that long


def collect_due() -> int | None:
    """Collect the oldest generation whose threshold is reached (its younger ones with it), as
    the automatic collector does; the generation collected, or None when none was due."""
    counts = gc.get_count()
    thresholds = gc.get_threshold()
    due = [gen for gen in (2, 1, 0) if thresholds[gen] and counts[gen] >= thresholds[gen]]
    if not due:
        return None
    gc.collect(due[0])
    return due[0]


async def collect_on_this_thread(tick_s: float = TICK_S) -> None:
    """Turn automatic collection off and collect what is due every `tick_s`, on the thread that
    runs this loop, until cancelled (automatic collection is back on then)."""
    gc.disable()
    try:
        while True:
            await asyncio.sleep(tick_s)
            collect_due()
    finally:
        gc.enable()

"""Python's cyclic garbage collector, run on the main thread only.

The collector runs in whichever thread allocates when a collection falls due. In the app that
may be the front door's thread, and a garbage cycle that holds Qt objects (a closed loop's timers
and socket notifiers, a window's wrappers) must be destroyed on Qt's own thread: destroyed from
another one, Qt crashed in its event loop (seen in the test suite, where pytest-xdist's receiver
thread collected). So automatic collection is off, and `collect_due` runs on the main thread at
a tick: it collects the generations the automatic collector would have collected by now.
Reference counting still frees everything that is not in a cycle at once; what is in a cycle
waits for the tick: 10 s while the app idles (a wakeup every 10 s), 1 s once a tick found many
new objects (the front door relaying a burst), so that cycles never pile up for long.
"""

from __future__ import annotations

import asyncio
import gc

IDLE_TICK_S = 10.0
BUSY_TICK_S = 1.0
BUSY_AFTER = 10  # new objects since the last tick, in youngest-generation thresholds (700 each)


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


def next_tick(young: int, threshold: int) -> float:
    """How long until the next tick, after one that found `young` new objects."""
    busy = threshold > 0 and young >= BUSY_AFTER * threshold
    return BUSY_TICK_S if busy else IDLE_TICK_S


async def collect_on_this_thread() -> None:
    """Turn automatic collection off and collect what is due at each tick, on the thread that
    runs this loop, until cancelled (automatic collection is back on then)."""
    gc.disable()
    try:
        tick = IDLE_TICK_S
        while True:
            await asyncio.sleep(tick)
            young = gc.get_count()[0]
            collect_due()
            tick = next_tick(young, gc.get_threshold()[0])
    finally:
        gc.enable()

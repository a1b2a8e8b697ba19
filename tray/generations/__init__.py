"""One place per server generation.

A generation (`Generation`) is everything one major version of the opencode server speaks: how
it is started and says it is ready, its auth variables, its health request, its event streams
and how an event decodes into the core's events (`events.py`), its heartbeat, what tells a
client to resync, how a crash-killed turn is ended, its REST paths and how a session is
reopened. Each generation lives in one module: `v1.py` is opencode 1.x.
"""

from __future__ import annotations

from tray.generations.generation import Generation
from tray.generations.v1 import V1

GENERATIONS = (V1,)
SUPPORTED = " or ".join(gen.name for gen in GENERATIONS)


def for_version(version: str) -> Generation | None:
    """The generation a server of `version` speaks; None for one this app does not speak."""
    return next((gen for gen in GENERATIONS if gen.speaks(version)), None)

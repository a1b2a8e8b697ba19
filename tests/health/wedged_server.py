"""A fake `opencode serve` for the health tests: its event stream beats on while its REST may
hang, and it may announce an update.

    python wedged_server.py serve --hostname H --port P

FAKE_HANG=1: `/global/health` answers the engine's first check, then no request gets an answer
(a wedged server whose heartbeats go on). FAKE_UPDATE=V: the stream announces
`installation.update-available` with version V. Standard library only (it runs as a script).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.fake_server import (
    CONNECTED,
    HEALTHY,
    Reply,
    Request,
    event_stream,
    plain,
    serve_as_opencode,
    silent,
)
from tests.support.sse import global_event, text

BEAT_S = 0.2


def once_then(first: Reply, then: Reply) -> Reply:
    calls = 0

    async def reply(request: Request, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        await (first if calls == 1 else then)(request, writer)

    return reply


def routes(hang: bool, update: str | None) -> dict[str, Reply]:
    announce = (
        [text(global_event("installation.update-available", version=update))] if update else []
    )
    rest = silent if hang else plain(200, "application/json", "{}")
    return {
        "/global/health": once_then(HEALTHY, silent) if hang else HEALTHY,
        "/global/event": event_stream(CONNECTED, *announce, beat_every_s=BEAT_S),
        "/session/status": rest,
        "/session": silent if hang else plain(200, "application/json", json.dumps([])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="wedged opencode")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--hostname", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    hang = os.environ.get("FAKE_HANG") == "1"
    served = routes(hang, os.environ.get("FAKE_UPDATE"))
    asyncio.run(serve_as_opencode(served, parser.parse_args().port))


if __name__ == "__main__":
    main()

"""A fake `opencode` binary whose event stream misbehaves on purpose, so the whole engine meets
the faults the real server cannot show:

    python fake_opencode.py serve --hostname H --port P

Its `/global/event` is the entry of `STREAMS` named by FAKE_OPENCODE_STREAM. Standard library
only (it runs as a script); the faults are also read directly by the stream's tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.fake_server import (
    CONNECTED,
    HEALTHY,
    Reply,
    event_stream,
    plain,
    serve_as_opencode,
    silent,
)
from tests.support.sse import global_event, text

MODE_VARIABLE = "FAKE_OPENCODE_STREAM"
# Bigger than the engine's 4 MiB limit for one event.
OVERSIZED_CHARS = 4 * 1024 * 1024 + 1

NOT_JSON = "this is not JSON {"
UNKNOWN_TYPE = text(global_event("some.future.event", answer=42))
NO_TYPE = text({"payload": {"kind": "no type here"}})
OVERSIZED = text(global_event("session.updated", blob="x" * OVERSIZED_CHARS))
HTML = plain(200, "text/html", "<!doctype html><html><body>the web app</body></html>")
BEAT_S = 0.2

# What the fake binary's /global/event does, by the name in FAKE_OPENCODE_STREAM.
STREAMS: dict[str, Reply] = {
    "garbage": event_stream(
        NOT_JSON, NO_TYPE, CONNECTED, UNKNOWN_TYPE, OVERSIZED, beat_every_s=BEAT_S
    ),
    "401": plain(401),
    "500": plain(500, body="Internal Server Error"),
    "html": HTML,
    "silent": silent,
    "slow": event_stream(CONNECTED, first_byte_after_s=1.0, beat_every_s=BEAT_S),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="fake opencode")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--hostname", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    mode = os.environ.get(MODE_VARIABLE, "garbage")
    if mode not in STREAMS:
        sys.exit(f"unknown {MODE_VARIABLE}={mode!r}; one of {', '.join(STREAMS)}")
    routes = {"/global/health": HEALTHY, "/global/event": STREAMS[mode]}
    asyncio.run(serve_as_opencode(routes, args.port))


if __name__ == "__main__":
    main()

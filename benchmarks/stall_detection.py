"""How fast a frozen server is noticed: SIGSTOP -> `stalled`, against the heartbeat timeout.

    .venv/bin/python benchmarks/stall_detection.py [--runs N] [--timeout S] [--binary PATH]

The server beats every 10 s on each connection. Run i freezes the server i/N of a beat interval
after the stream (re)connected, so the runs cover the phases evenly: "SIGSTOP -> stalled" then
lies between timeout - 10 s and the timeout, while "last event -> stalled" should be the timeout
itself plus the watchdog's lateness. After each stall, SIGCONT must bring `connected` back
without a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

from benchlib import (
    START_TIMEOUT_S,
    Statuses,
    connected,
    isolated_env,
    launch,
    parser,
    quiet_logs,
    table,
)

from tray.core.status import State
from tray.engine.engine import Engine

BEAT_S = 10.0  # the server's heartbeat interval


async def main() -> int:
    args = parser("Stall detection vs the heartbeat timeout.", runs=5)
    args.add_argument("--timeout", type=float, default=12.0, help="heartbeat timeout, s")
    options = args.parse_args()
    quiet_logs()
    loop = asyncio.get_running_loop()
    timeout: float = options.timeout
    since_stop: list[float] = []
    since_event: list[float] = []
    lateness: list[float] = []
    resumed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stall-detection-") as tmp:
        root = Path(tmp)
        settings = {"heartbeat_timeout_s": timeout, "hung_restart_after_s": 10 * timeout}
        engine = Engine(launch(options.binary, root, isolated_env(root / "home"), **settings))
        statuses = Statuses(engine)
        engine.start()
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                status = await statuses.next(connected)
            pid = status.pid
            assert pid is not None
            for run in range(options.runs):
                await asyncio.sleep(BEAT_S * run / options.runs)
                statuses.forget()
                stopped = loop.time()
                os.kill(pid, signal.SIGSTOP)
                try:
                    async with asyncio.timeout(timeout + START_TIMEOUT_S):
                        stalled = await statuses.next(lambda s: s.state is State.STALLED)
                finally:
                    os.kill(pid, signal.SIGCONT)
                continued = loop.time()
                async with asyncio.timeout(START_TIMEOUT_S):
                    again = await statuses.next(connected)
                if again.pid != pid or again.restarts:
                    print(f"  run {run + 1}: the server was restarted", file=sys.stderr)
                assert stalled.last_event_at is not None
                since_stop.append(stalled.now - stopped)
                since_event.append(stalled.now - stalled.last_event_at)
                lateness.append(since_event[-1] - timeout)
                resumed.append(loop.time() - continued)
                print(
                    f"  run {run + 1}: stalled {since_stop[-1]:.2f} s after SIGSTOP",
                    file=sys.stderr,
                )
        finally:
            await engine.shutdown()
    table(
        f"stall detection, heartbeat timeout {timeout:g} s, {options.runs} runs (seconds)",
        [
            ("SIGSTOP -> stalled", since_stop),
            ("last event -> stalled", since_event),
            ("watchdog lateness (minus timeout)", lateness),
            ("SIGCONT -> connected again", resumed),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""How fast the app learns that its server died: SIGKILL -> the status callback that says so.

    .venv/bin/python benchmarks/exit_detection.py [--runs N] [--binary PATH]

Nothing polls: the event stream breaks (the kernel closes the dead server's sockets) and the
engine's wait on the child process returns. Both are timed to the moment the subscriber's
callback runs: the first status that is no longer `connected`, and the first `crashed`.
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
    machine,
    parser,
    quiet_logs,
    table,
)

from tray.core.status import State
from tray.engine.engine import Engine

# Kills in a row are crashes in a row: let neither the breaker nor a long backoff get in the way.
SETTINGS = {"crash_loop_limit": 1000, "restart_backoff_min_s": 0.2, "restart_backoff_max_s": 0.5}


async def main() -> int:
    options = parser("Server exit -> state change in the app.", runs=10).parse_args()
    quiet_logs()
    loop = asyncio.get_running_loop()
    noticed: list[float] = []
    crashed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="exit-detection-") as tmp:
        root = Path(tmp)
        engine = Engine(launch(options.binary, root, isolated_env(root / "home"), **SETTINGS))
        statuses = Statuses(engine)
        engine.start()
        try:
            for run in range(1, options.runs + 1):
                async with asyncio.timeout(START_TIMEOUT_S):
                    status = await statuses.next(connected)
                await asyncio.sleep(1.0)  # past the resync that follows each connection
                assert status.pid is not None
                statuses.forget()
                killed = loop.time()
                os.kill(status.pid, signal.SIGKILL)
                async with asyncio.timeout(START_TIMEOUT_S):
                    await statuses.next(lambda s: s.state is not State.CONNECTED)
                    noticed.append(statuses.at - killed)
                    await statuses.next(lambda s: s.state is State.CRASHED)
                    crashed.append(statuses.at - killed)
                print(f"  run {run}: crashed after {crashed[-1] * 1000:.1f} ms", file=sys.stderr)
        finally:
            await engine.shutdown()
    print(f"\n{machine()}")
    table(
        f"server exit -> app state, {options.runs} runs (seconds)",
        [
            ("SIGKILL -> no longer connected", noticed),
            ("SIGKILL -> crashed (callback)", crashed),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

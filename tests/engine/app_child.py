"""A stand-in for the app, run by the tests as a child process: an engine that prints
`{"pid": N}` once connected to its server N, then runs until it is killed.

    python -m tests.engine.app_child BINARY PORT STATE_DIR WORKING_DIR

The server gets this process's environment.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.support.credentials import fresh_password
from tray.core.settings import Settings
from tray.core.status import State, Status
from tray.engine.engine import Engine
from tray.engine.launch import ServerLaunch


async def run(binary: str, port: int, state_dir: Path, working_dir: str) -> None:
    settings = Settings(opencode_path=binary, port=port, working_directory=working_dir)
    password = fresh_password()
    engine = Engine(ServerLaunch(settings, password, state_dir))
    told: list[int] = []

    def tell(status: Status) -> None:
        if status.state is State.CONNECTED and status.pid is not None and not told:
            told.append(status.pid)
            print(json.dumps({"pid": status.pid}), flush=True)

    engine.subscribe(lambda snapshot: tell(snapshot.status))
    engine.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    binary, port, state_dir, working_dir = sys.argv[1:]
    asyncio.run(run(binary, int(port), Path(state_dir), working_dir))

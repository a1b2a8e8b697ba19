"""What the benchmarks share: an isolated, offline server environment, engines to drive, and a
table of timings. The benchmarks print numbers; they assert nothing about them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import statistics
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from tray.core.settings import Settings
from tray.core.status import State, Status
from tray.engine.binary import PROJECT_LOCAL
from tray.engine.engine import Engine
from tray.engine.launch import ServerLaunch
from tray.engine.server_password import ServerPassword, generate

START_TIMEOUT_S = 60.0
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks reuse the tests' virtual desktop and helpers
    sys.path.append(str(REPO))
XDG_DIRS = {
    "XDG_DATA_HOME": ".local/share",
    "XDG_CONFIG_HOME": ".config",
    "XDG_STATE_HOME": ".local/state",
    "XDG_CACHE_HOME": ".cache",
}


def parser(description: str, runs: int) -> argparse.ArgumentParser:
    args = argparse.ArgumentParser(description=description)
    args.add_argument("--runs", type=int, default=runs, help=f"measured runs (default {runs})")
    args.add_argument(
        "--binary",
        default=os.environ.get("OPENCODE_TRAY_TEST_BINARY") or str(PROJECT_LOCAL),
        help="the opencode binary (default: the project-local pinned one)",
    )
    return args


def quiet_logs() -> None:
    """Only errors: a resync cut short by a kill is expected here, not news."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")


def isolated_env(home: Path) -> dict[str, str]:
    """This environment with HOME and the XDG dirs under `home`, offline, without opencode's own
    variables (so no user config or autoupdate gets in the way)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCODE_", "XDG_"))}
    env |= {name: str(home / sub) for name, sub in XDG_DIRS.items()}
    env |= {
        "HOME": str(home),
        "npm_config_offline": "true",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
    }
    home.mkdir(parents=True, exist_ok=True)
    return env


def free_port() -> int:
    """A loopback port that the OS just found free."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def launch(binary: str, root: Path, env: dict[str, str], **settings: Any) -> ServerLaunch:
    """A launch on a fresh free port, working and keeping its state under `root`."""
    chosen = Settings(
        opencode_path=binary, port=free_port(), working_directory=str(root), **settings
    )
    password = ServerPassword(generate(), persistent=False)
    return ServerLaunch(chosen, password, root / "state", base_env=env)


def connected(status: Status) -> bool:
    """Connected, with the pid of the server behind the stream."""
    return status.state is State.CONNECTED and status.pid is not None


class Statuses:
    """The statuses an engine publishes, queued, so that a benchmark can await the next match.

    `at` is the loop time at which the status `next` returned last was published (the
    subscriber's callback ran), not when the awaiting benchmark woke up."""

    def __init__(self, engine: Engine) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[float, Status]] = asyncio.Queue()
        self.at = 0.0
        engine.subscribe(
            lambda snapshot: self._queue.put_nowait((self._loop.time(), snapshot.status))
        )

    def forget(self) -> None:
        """Drop what was published so far: the next match must be news."""
        while not self._queue.empty():
            self._queue.get_nowait()

    async def next(self, what: Callable[[Status], bool]) -> Status:
        """The next status that is `what`; the caller bounds the wait (`asyncio.timeout`)."""
        while True:
            self.at, status = await self._queue.get()
            if what(status):
                return status


def table(title: str, rows: Sequence[tuple[str, Sequence[float]]]) -> None:
    """Median, p90, min and max of each row's samples, in seconds."""
    print(f"\n{title}")
    print(f"{'':34} {'n':>3} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}")
    for name, samples in rows:
        if not samples:
            print(f"{name:34} {0:>3} {'-':>8}")
            continue
        print(
            f"{name:34} {len(samples):>3} {statistics.median(samples):>8.3f} "
            f"{p90(samples):>8.3f} {min(samples):>8.3f} {max(samples):>8.3f}"
        )


def machine() -> str:
    """nproc, CPU model and RAM, for the record beside the numbers."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} CPUs, {model}, {ram:.0f} GiB RAM, Python {sys.version.split()[0]}"


def p90(samples: Sequence[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


class LoopThread:
    """A server on a free loopback port, on an asyncio loop of its own thread; `url` once
    `start` returns."""

    name = "server"

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""

    def start(self) -> None:
        threading.Thread(target=self._run, name=self.name, daemon=True).start()
        self._ready.wait()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    async def _listen(self) -> asyncio.Server:
        raise NotImplementedError

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(self._listen())
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()

"""What the health watch costs: one tick's parts, and the engine's wakeups with the tick on and off.

    .venv/bin/python benchmarks/health_tick.py [--ticks N] [--seconds S] [--binary PATH]

Against the real server: the RSS of its process tree with the machine's memory and the OOM
record (psutil, /proc), the binary's file state (a stat), the core's decision, and the
`/global/health` probe (CPU in this process and in the server). Then the engine idles for S
seconds with the default tick (30 s) and with it effectively off, counting this process's
wakeups (context switches of all its threads) and CPU.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
from appbench import cpu_seconds, wakeups
from benchlib import START_TIMEOUT_S, Statuses, connected, isolated_env, launch, machine, parser

from tray.core.server_health import HealthPolicy, HealthWatch
from tray.engine.api import make_client
from tray.engine.engine import Engine
from tray.engine.server_health import file_state, measure, oom_record

OFF_S = 1e9  # a tick interval that never comes


def _tree_cpu(pid: int) -> float:
    root = psutil.Process(pid)
    return sum(cpu_seconds(p) for p in [root, *root.children(recursive=True)])


def _per_call(name: str, calls: int, cpu_s: float, wall_s: float) -> None:
    print(f"{name:44} {cpu_s / calls * 1000:>9.3f} {wall_s / calls * 1000:>9.3f}")


async def _idle(seconds: float) -> tuple[float, float]:
    """Wakeups per second and CPU % of one core of this process while the engine idles."""
    me = psutil.Process()
    woke0, cpu0, t0 = wakeups(os.getpid()), cpu_seconds(me), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    woke = (wakeups(os.getpid()) - woke0) / elapsed
    return woke, (cpu_seconds(me) - cpu0) / elapsed * 100


async def main() -> int:
    args = parser("Cost of the health watch.", runs=1)
    args.add_argument("--ticks", type=int, default=200, help="ticks measured (default 200)")
    args.add_argument("--seconds", type=float, default=60.0, help="idle window (default 60)")
    options = args.parse_args()
    with tempfile.TemporaryDirectory(prefix="health-tick-") as tmp:
        root = Path(tmp)
        server = launch(options.binary, root, isolated_env(root / "home"))
        engine = Engine(server)
        statuses = Statuses(engine)
        engine.start()
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                status = await statuses.next(connected)
            await asyncio.sleep(5.0)  # past the first resync
            pid = status.pid
            assert pid is not None
            record = oom_record(pid)
            watch = HealthWatch(HealthPolicy())
            watch.server(pid, status.version)
            print(f"\n{machine()}")
            print(f"server tree: {len(psutil.Process(pid).children(recursive=True)) + 1} processes")
            print(f"OOM record: {record or 'not readable here'}")
            print(f"\n{'per call (ms)':44} {'CPU':>9} {'wall':>9}")
            parts: dict[str, Callable[[], object]] = {
                "RSS of the tree + memory + OOM record": lambda: measure(pid, record),
                "binary file state (stat)": lambda: file_state(options.binary),
                "core decision": lambda: watch.decide(True, (), time.monotonic()),
            }
            for name, part in parts.items():
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for _ in range(options.ticks):
                    part()
                _per_call(
                    name, options.ticks, time.process_time() - cpu0, time.perf_counter() - wall0
                )
            assert status.url is not None
            client = make_client(status.url, httpx.BasicAuth(*server.credentials()))
            server_cpu0 = _tree_cpu(pid)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(options.ticks):
                await client.get("/global/health")
            _per_call(
                "/global/health probe, this process",
                options.ticks,
                time.process_time() - cpu0,
                time.perf_counter() - wall0,
            )
            _per_call(
                "/global/health probe, the server's CPU",
                options.ticks,
                _tree_cpu(pid) - server_cpu0,
                0.0,
            )
            await client.aclose()
            print(f"\nengine idle for {options.seconds:.0f} s {'wakeups/s':>14} {'CPU %':>8}")
            woke, cpu = await _idle(options.seconds)
            every = f"health tick every {server.settings.health_interval_s:.0f} s"
            print(f"{every:30} {woke:>14.2f} {cpu:>8.3f}")
            engine.apply_settings(replace(server.settings, health_interval_s=OFF_S))
            await asyncio.sleep(server.settings.health_interval_s)  # the last sleep ends
            woke, cpu = await _idle(options.seconds)
            print(f"{'health tick off':30} {woke:>14.2f} {cpu:>8.3f}")
        finally:
            await engine.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

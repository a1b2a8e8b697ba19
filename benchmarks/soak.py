"""Soak: the engine runs the real server for M minutes while faults strike at random times
(seeded, one per slot of the run), and the process is sampled throughout.

    .venv/bin/python benchmarks/soak.py [--minutes M] [--seed S] [--faults N] [--binary PATH]

Faults: SIGKILL of the server; SIGSTOP for longer than the heartbeat timeout, then SIGCONT;
the event stream reset or ended cleanly by a proxy between the engine and the server (at the
server's next event). Each is timed from the moment it strikes to `connected` again. The run
is split into N equal slots and one fault strikes in the middle part of each, so recoveries
do not overlap and the restart backoff has time to reset. RSS and CPU are this process's: the
engine here is the app's engine, without the Qt views. Exits 1 if a fault was not recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil
from benchlib import (
    START_TIMEOUT_S,
    Statuses,
    connected,
    isolated_env,
    launch,
    machine,
    parser,
    quiet_logs,
)

from tests.chaos.proxy import ChaosProxy, Cut
from tray.core.status import State, Status
from tray.engine.engine import Engine

HEARTBEAT_TIMEOUT_S = 11.0
SAMPLE_S = 5.0
KINDS = ("sigkill", "sigstop", "stream reset", "stream close")
MIB = 2**20


@dataclass
class Record:
    kind: str
    at: float  # seconds into the run
    recovery_s: float | None = None  # None: not recovered


@dataclass
class Samples:
    rss: list[float] = field(default_factory=list)
    server_rss: list[float] = field(default_factory=list)


class Soak:
    def __init__(self, engine: Engine, proxy: ChaosProxy, statuses: Statuses) -> None:
        self.engine = engine
        self.proxy = proxy
        self.statuses = statuses
        self.loop = asyncio.get_running_loop()

    def now_connected(self) -> Status:
        status = self.engine.status()
        assert connected(status), f"not connected: {status.state.value}"
        return status

    async def strike(self, kind: str) -> float:
        """Inject one fault; the seconds from its strike to `connected` again."""
        status = self.now_connected()
        assert status.pid is not None
        self.statuses.forget()
        struck = self.loop.time()
        if kind == "sigstop":
            os.kill(status.pid, signal.SIGSTOP)
            try:
                await self.statuses.next(lambda s: s.state is State.STALLED)
                await asyncio.sleep(1.0)
            finally:
                os.kill(status.pid, signal.SIGCONT)
        else:
            if kind == "sigkill":
                os.kill(status.pid, signal.SIGKILL)
            else:
                self.proxy.cut_stream(Cut.RESET if kind == "stream reset" else Cut.CLOSE)
                await self.proxy.cut_done()  # at the server's next event (a heartbeat at most)
                struck = self.loop.time()
            await self.statuses.next(lambda s: s.state is not State.CONNECTED)
        await self.statuses.next(connected)
        return self.statuses.at - struck


async def sample(samples: Samples, engine: Engine) -> None:
    me = psutil.Process()
    while True:
        samples.rss.append(me.memory_info().rss / MIB)
        status = engine.status()
        if connected(status) and status.pid is not None:
            with contextlib.suppress(psutil.Error):
                server = psutil.Process(status.pid)
                samples.server_rss.append(server.memory_info().rss / MIB)
        await asyncio.sleep(SAMPLE_S)


def schedule(rng: random.Random, minutes: float, count: int) -> list[tuple[float, str]]:
    """(seconds into the run, kind) of each fault: one in the middle part of each slot."""
    slot = minutes * 60 / count
    return [(slot * (i + rng.uniform(0.2, 0.6)), rng.choice(KINDS)) for i in range(count)]


async def run(binary: str, minutes: float, seed: int, count: int) -> tuple[list[Record], Samples]:
    rng = random.Random(seed)
    plan = schedule(rng, minutes, count)
    records: list[Record] = []
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        root = Path(tmp)
        settings = {"heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S, "crash_loop_limit": 1000}
        chosen = launch(binary, root, isolated_env(root / "home"), **settings)
        async with ChaosProxy(chosen.settings.port) as proxy:
            engine = Engine(replace(chosen, client_url=proxy.url))
            statuses = Statuses(engine)
            engine.start()
            sampler = asyncio.ensure_future(sample(samples, engine))
            loop = asyncio.get_running_loop()
            began = loop.time()
            try:
                async with asyncio.timeout(START_TIMEOUT_S):
                    await statuses.next(connected)
                soak = Soak(engine, proxy, statuses)
                for at, kind in plan:
                    await asyncio.sleep(max(0.0, began + at - loop.time()))
                    record = Record(kind, loop.time() - began)
                    records.append(record)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(START_TIMEOUT_S + HEARTBEAT_TIMEOUT_S):
                            record.recovery_s = await soak.strike(kind)
                    done = _seconds(record.recovery_s)
                    print(f"  {record.at:7.1f} s {kind}: {done}", file=sys.stderr)
                    if record.recovery_s is None:
                        break
                await asyncio.sleep(max(0.0, began + minutes * 60 - loop.time()))
            finally:
                sampler.cancel()
                await engine.shutdown()
    return records, samples


def _seconds(value: float | None) -> str:
    return "not recovered" if value is None else f"recovered in {value:.2f} s"


def report(records: list[Record], samples: Samples, minutes: float, cpu_s: float) -> None:
    print(f"\n{machine()}")
    print(f"\nsoak, {minutes:g} min, {len(records)} faults")
    print(f"{'fault':14} {'n':>3} {'recovered':>9} {'median s':>9} {'max s':>9}")
    for kind in (*KINDS, "all"):
        these = [r for r in records if kind in (r.kind, "all")]
        times = [r.recovery_s for r in these if r.recovery_s is not None]
        if these:
            median = f"{statistics.median(times):>9.2f}" if times else f"{'-':>9}"
            longest = f"{max(times):>9.2f}" if times else f"{'-':>9}"
            print(f"{kind:14} {len(these):>3} {len(times):>9} {median} {longest}")
    rss = samples.rss
    print(
        f"\nengine process RSS MiB: start {rss[0]:.1f}, end {rss[-1]:.1f}, max {max(rss):.1f}; "
        f"CPU {cpu_s / (minutes * 60) * 100:.2f} % of one core"
    )
    if samples.server_rss:
        server = samples.server_rss
        print(f"server RSS MiB: start {server[0]:.1f}, end {server[-1]:.1f}, max {max(server):.1f}")


async def main() -> int:
    args = parser("Soak with random faults.", runs=1)
    args.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    args.add_argument("--seed", type=int, default=1, help="the faults' random seed (default 1)")
    args.add_argument("--faults", type=int, default=0, help="how many (default: 1 a minute)")
    options = args.parse_args()
    count = options.faults or max(1, round(options.minutes))
    quiet_logs()
    cpu = _cpu_seconds()
    records, samples = await run(options.binary, options.minutes, options.seed, count)
    report(records, samples, options.minutes, _cpu_seconds() - cpu)
    return 0 if all(r.recovery_s is not None for r in records) else 1


def _cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

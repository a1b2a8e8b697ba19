"""The front door, direct and through the door in one run: REST latency added, events per
second relayed, memory per held stream, the app's CPU during a 10k-delta burst, the door on
the Qt loop against the door on its own thread (with a UI-ish load), and the client-visible
gap per fault (SIGKILL, restart, hang) next to the server's cold start. The REST rows end with
three baselines: a bare h11 relay (`h11_relay.py`: what the door was built on until 2026-12-07),
a bare relay on llhttp (`httptools_relay.py`: the floor under the door, which parses with
llhttp too) and a raw TCP splice (`tcp_splice.py`: the floor under any relay in Python, the
extra hop alone).
The CPU column is this process's (the door's or the relay's; the client runs in another) per
request.

    .venv/bin/python benchmarks/front_door.py [--runs N] [--requests N] [--events N]

The burst comes from a fake upstream in a child process, and is read by a client in another
child process, so this process's CPU is the door's. The UI-ish load is a 16 ms QTimer that
keeps the Qt loop busy for 6 ms each time (a redraw); UI lateness is a 10 ms QTimer's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import psutil
import qasync
from benchlib import free_port, isolated_env, launch, machine, parser, quiet_logs
from event_throughput import burst
from h11_relay import H11Relay
from httptools_relay import HttptoolsRelay
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from tcp_splice import TcpSplice

from tests.support.fake_server import FakeServer, event_stream
from tray.core.door.phases import Credentials, ServerView, Upstream
from tray.core.status import State
from tray.engine.engine import Engine
from tray.frontdoor.door import DoorConfig, FrontDoor
from tray.frontdoor.threaded import ThreadedFrontDoor
from tray.shell.door_feed import follow

HERE = Path(__file__).resolve()
PUBLIC = Credentials("opencode", "public-password")
UI_EVERY_MS, UI_BUSY_S, TICK_MS = 16, 0.006, 10
Door = FrontDoor | ThreadedFrontDoor
T = TypeVar("T")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:8.3f}"


# -- child processes: the fake upstream and the burst reader ---------------------------------------


async def serve_burst(port: int, events: int) -> None:
    async with FakeServer({"/global/event": event_stream(*burst(events))}, port=port):
        await asyncio.Event().wait()


async def read_burst(url: str, auth: str) -> None:
    """Read one burst; print events and seconds from the first byte to the end."""
    count, started = 0, 0.0
    async with (
        aiohttp.ClientSession(headers={"Authorization": auth}) as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as answer,
    ):
        buffer = b""
        async for chunk in answer.content.iter_any():
            if not started:
                started = time.perf_counter()
            buffer += chunk
            *done, buffer = buffer.split(b"\n\n")
            count += sum(1 for event in done if event.startswith(b"data:"))
            if count > EVENTS:  # server.connected and the deltas
                break
    print(json.dumps({"events": count, "seconds": time.perf_counter() - started}))


async def hold_streams(url: str, auth: str, count: int) -> None:
    """Open `count` event streams and keep them until killed."""
    async with aiohttp.ClientSession(
        headers={"Authorization": auth}, connector=aiohttp.TCPConnector(limit=0)
    ) as session:
        answers = [
            await session.get(url, timeout=aiohttp.ClientTimeout(total=None)) for _ in range(count)
        ]
        print("open", len(answers), flush=True)
        await asyncio.Event().wait()


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE), *args], stdout=subprocess.PIPE, text=True, cwd=HERE.parent
    )


async def run_reader(url: str, auth: str) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE),
        "--read",
        url,
        "--auth",
        auth,
        f"--events={EVENTS}",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    result: dict[str, float] = json.loads(out)
    return result


# -- the UI-ish load and the UI's lateness ---------------------------------------------------------


@contextlib.contextmanager
def ui_load() -> Any:
    def redraw() -> None:
        end = time.perf_counter() + UI_BUSY_S
        while time.perf_counter() < end:
            pass

    timer = QTimer()
    timer.timeout.connect(redraw)
    timer.start(UI_EVERY_MS)
    try:
        yield
    finally:
        timer.stop()


@contextlib.contextmanager
def ui_lateness(into: list[float]) -> Any:
    last = time.perf_counter()

    def tick() -> None:
        nonlocal last
        now = time.perf_counter()
        into.append(max(0.0, now - last - TICK_MS / 1000))
        last = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(TICK_MS)
    try:
        yield
    finally:
        timer.stop()


# -- measurements ----------------------------------------------------------------------------------


async def latencies(url: str, auth: str, count: int, client: str = "aiohttp") -> list[float]:
    """Sequential GET /global/health over one keep-alive connection, seconds each, measured by
    a client in another process (as every real client is: in this one it would share the GIL
    with the door's thread and the Qt loop with the door on it)."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, str(HERE), "--latency", url, "--auth", auth, f"--count={count}"),
        *(["--httpx"] if client == "httpx" else []),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    samples: list[float] = json.loads(out)
    return samples


async def measure_latencies(url: str, auth: str, count: int, use_httpx: bool) -> None:
    """The child's side of `latencies`: print the samples, the warm-up left out."""
    samples: list[float] = []
    if use_httpx:
        async with httpx.AsyncClient(headers={"Authorization": auth}, trust_env=False) as h:
            for _ in range(count):
                started = time.perf_counter()
                (await h.get(url + "/global/health")).raise_for_status()
                samples.append(time.perf_counter() - started)
    else:
        async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
            for _ in range(count):
                started = time.perf_counter()
                async with session.get(url + "/global/health") as answer:
                    await answer.read()
                    assert answer.status == 200
                samples.append(time.perf_counter() - started)
    print(json.dumps(samples[count // 10 :]))


@contextlib.asynccontextmanager
async def a_door(
    kind: str, upstream: Upstream, state: State = State.CONNECTED
) -> AsyncIterator[Door]:
    door: Door = (
        FrontDoor(DoorConfig(port=0), PUBLIC)
        if kind == "qt loop"
        else ThreadedFrontDoor(DoorConfig(port=0), PUBLIC)
    )
    await door.start()
    door.server_changed(ServerView(state, upstream, None, "1.18.33"))
    await asyncio.sleep(0.05)
    try:
        yield door
    finally:
        await door.close()


async def cpu_during(work: Awaitable[T]) -> tuple[T, float]:
    me = psutil.Process()
    before = me.cpu_times()
    result = await work
    after = me.cpu_times()
    return result, (after.user - before.user) + (after.system - before.system)


async def server_section(binary: str, root: Path, runs: int, requests: int) -> dict[str, Any]:
    """REST latency, direct and through the door (both loops), the relays, and aiohttp against
    httpx. Every path is measured once a round, in turn, so that a machine that changes speed
    during the run (this VM does, by up to 1.5x in a day) skews no row against direct."""
    env = isolated_env(root / "home")
    port = free_port()
    password = "bench-private"
    proc = await spawn_server(binary, port, root, env | {"OPENCODE_SERVER_PASSWORD": password})
    private = Credentials("opencode", password)
    upstream = Upstream(f"http://127.0.0.1:{port}", private)
    try:
        async with httpx.AsyncClient(auth=("opencode", password), trust_env=False) as probe:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(upstream.url + "/global/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        found: dict[str, Any] = {"cpu": {}}

        async def measure(name: str, url: str, auth: str, client: str = "aiohttp") -> None:
            samples, cpu = await cpu_during(latencies(url, auth, requests, client))
            found.setdefault(name, []).extend(samples)
            found["cpu"].setdefault(name, []).append(cpu / requests)

        relay = H11Relay(PUBLIC.basic(), port, private.basic())
        splice = TcpSplice(port)
        llhttp = HttptoolsRelay(PUBLIC.basic(), port, private.basic())
        relay.start()
        llhttp.start()
        splice.start()
        try:
            async with a_door("qt loop", upstream) as qt, a_door("thread", upstream) as thread:
                paths = [
                    ("direct", upstream.url, private.basic()),
                    ("qt loop", qt.url, PUBLIC.basic()),
                    ("thread", thread.url, PUBLIC.basic()),
                    ("bare h11 relay (thread)", relay.url, PUBLIC.basic()),
                    ("httptools relay (thread)", llhttp.url, PUBLIC.basic()),
                    ("raw TCP splice (thread)", splice.url, private.basic()),
                ]
                for _ in range(runs):
                    await measure("direct httpx", upstream.url, private.basic(), "httpx")
                    for name, url, auth in paths:
                        await measure(name, url, auth)
                    for name, door in (("qt loop", qt), ("thread", thread)):
                        with ui_load():
                            await measure(f"{name} + UI load", door.url, PUBLIC.basic())
        finally:
            relay.stop()
            llhttp.stop()
            splice.stop()
        found["memory"] = await held_stream_memory(upstream)
        return found
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def held_stream_memory(upstream: Upstream, count: int = 500) -> float:
    """KiB of the door's process per event stream held while the server is down."""
    async with a_door("qt loop", upstream, State.CRASHED) as door:
        me = psutil.Process()
        await asyncio.sleep(0.5)
        before = me.memory_info().rss
        holder = child("--hold", door.url + "/event", "--auth", PUBLIC.basic(), f"--count={count}")
        try:
            while door.stats().streams < count:  # noqa: ASYNC110 - another process opens them
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            after = me.memory_info().rss
        finally:
            holder.kill()
            holder.wait()
        return (after - before) / count / 1024


async def burst_section(runs: int) -> dict[str, Any]:
    """Events per second of a 10k-delta burst: direct, through the door on each loop, with the
    UI load; the door's CPU and the UI's lateness while it relays."""
    port = free_port()
    upstream_proc = child("--upstream", str(port), f"--events={EVENTS}")
    for _ in range(600):  # until the child listens (seconds on a loaded machine)
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        break
    upstream = Upstream(f"http://127.0.0.1:{port}", Credentials("opencode", "x"))
    found: dict[str, Any] = {"direct": []}
    try:
        for _ in range(runs):
            found["direct"].append(await run_reader(upstream.url + "/global/event", "Basic eA=="))
        for kind in ("qt loop", "thread"):
            for label in (kind, f"{kind} + UI load", f"{kind} lateness"):
                found[label] = []
            found[f"{kind} cpu"] = []
            async with a_door(kind, upstream) as door:
                url = door.url + "/global/event"
                for _ in range(runs):
                    result, cpu = await cpu_during(run_reader(url, PUBLIC.basic()))
                    found[kind].append(result)
                    found[f"{kind} cpu"].append(cpu)
                    with ui_load():
                        found[f"{kind} + UI load"].append(await run_reader(url, PUBLIC.basic()))
                    late: list[float] = []
                    with ui_lateness(late):
                        await run_reader(url, PUBLIC.basic())
                    found[f"{kind} lateness"] += late
    finally:
        upstream_proc.kill()
        upstream_proc.wait()
    return found


async def spawn_server(
    binary: str, port: int, root: Path, env: dict[str, str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(binary, "serve", "--hostname", "127.0.0.1", "--port", str(port)),
        env=env,
        cwd=root,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def cold_start(binary: str, root: Path) -> float:
    env = isolated_env(root / "home")
    port = free_port()
    started = time.perf_counter()
    proc = await spawn_server(binary, port, root, env)
    try:
        async with httpx.AsyncClient(trust_env=False) as probe:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(f"http://127.0.0.1:{port}/global/health")).is_success:
                        return time.perf_counter() - started
                await asyncio.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def fault_section(binary: str, root: Path, runs: int, kind: str) -> dict[str, list[float]]:
    """Fault to the client's first event from the new server, on a stream through the door."""
    env = isolated_env(root / "home")
    base = launch(binary, root, env, heartbeat_timeout_s=11.0, hung_restart_after_s=1.0)
    door: Door = (
        FrontDoor(DoorConfig(port=base.settings.port), Credentials("opencode", base.password.value))
        if kind == "qt loop"
        else ThreadedFrontDoor(
            DoorConfig(port=base.settings.port), Credentials("opencode", base.password.value)
        )
    )
    await door.start()
    engine = Engine(replace(base, public_url=door.url))
    follow(door, engine)
    engine.start()
    gaps: dict[str, list[float]] = {
        "SIGKILL": [],
        "restart": [],
        "hang (SIGSTOP)": [],
        "cold start": [],
    }
    arrivals: list[tuple[float, str]] = []

    async def reader() -> None:
        async with (
            httpx.AsyncClient(auth=("opencode", base.password.value), timeout=None) as client,
            client.stream("GET", door.url + "/event") as stream,
        ):
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    arrivals.append((time.perf_counter(), json.loads(line[5:])["type"]))

    async def connected_pid() -> int:
        while True:
            status = engine.status()
            if status.state is State.CONNECTED and status.pid is not None:
                return status.pid
            await asyncio.sleep(0.01)

    task = asyncio.create_task(reader())
    try:
        for _ in range(runs):
            gaps["cold start"].append(await cold_start(binary, root))
            for fault in ("SIGKILL", "restart", "hang (SIGSTOP)"):
                pid = await connected_pid()
                await asyncio.sleep(1.0)
                mark = len(arrivals)
                at = time.perf_counter()
                if fault == "SIGKILL":
                    os.kill(pid, signal.SIGKILL)
                elif fault == "restart":
                    engine.restart()
                else:
                    os.kill(pid, signal.SIGSTOP)
                give_up = at + FAULT_LIMIT_S
                while not any(k == "server.connected" for _, k in arrivals[mark:]):
                    if task.done():  # the stream ended: the door failed the client
                        raise RuntimeError(f"the stream through the door ended at {fault}") from (
                            task.exception() if not task.cancelled() else None
                        )
                    if time.perf_counter() > give_up:
                        raise TimeoutError(
                            f"no new server.connected {FAULT_LIMIT_S:.0f} s after {fault}"
                        )
                    await asyncio.sleep(0.005)
                first = next(t for t, k in arrivals[mark:] if k == "server.connected")
                gaps[fault].append(first - at)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.shutdown()
        await door.close()
    return gaps


# -- the report ------------------------------------------------------------------------------------


def rest_table(found: dict[str, Any]) -> None:
    direct = found["direct"]
    d50, d99 = pct(direct, 0.5), pct(direct, 0.99)
    print("\nREST latency, GET /global/health, one keep-alive connection (ms)")
    print(
        f"{'':28} {'n':>6} {'p50':>8} {'p99':>8} {'added p50':>10} {'added p99':>10}"
        f" {'CPU/request':>12}"
    )
    for name in (
        "direct",
        "direct httpx",
        "qt loop",
        "qt loop + UI load",
        "thread",
        "thread + UI load",
        "bare h11 relay (thread)",
        "httptools relay (thread)",
        "raw TCP splice (thread)",
    ):
        s = found[name]
        p50, p99 = pct(s, 0.5), pct(s, 0.99)
        added = f"{ms(p50 - d50):>10} {ms(p99 - d99):>10}"
        if name.startswith("direct"):
            added = " " * 21
        cpu = f"{statistics.mean(found['cpu'][name]) * 1e6:>9.0f} us"
        print(f"{name:28} {len(s):>6} {ms(p50)} {ms(p99)} {added} {cpu}")
    print(f"\nmemory per event stream held while the server is down: {found['memory']:.1f} KiB")


def burst_table(found: dict[str, Any]) -> None:
    def rate(results: list[dict[str, float]]) -> float:
        return statistics.median(r["events"] / r["seconds"] for r in results)

    direct = rate(found["direct"])
    print(f"\nevents per second, a {EVENTS}-delta burst read by a client in another process")
    print(f"{'':28} {'events/s':>10} {'vs direct':>10}")
    print(f"{'direct':28} {direct:>10.0f} {1.0:>10.2f}")
    for kind in ("qt loop", "thread"):
        for label in (kind, f"{kind} + UI load"):
            r = rate(found[label])
            print(f"{label:28} {r:>10.0f} {r / direct:>10.2f}")
    print(f"\nthe app's CPU while the door relays the {EVENTS}-delta burst (s of CPU)")
    for kind in ("qt loop", "thread"):
        cpu = found[f"{kind} cpu"]
        print(f"{kind:28} {statistics.median(cpu):>10.3f}")
    print(f"\nUI: a {TICK_MS} ms QTimer while the door relays the burst (lateness, ms)")
    print(f"{'':28} {'ticks':>6} {'p50':>8} {'p90':>8} {'max':>8}")
    for kind in ("qt loop", "thread"):
        late = found[f"{kind} lateness"]
        print(f"{kind:28} {len(late):>6} {ms(pct(late, 0.5))} {ms(pct(late, 0.9))} {ms(max(late))}")


def gap_table(kind: str, gaps: dict[str, list[float]]) -> None:
    cold = statistics.median(gaps["cold start"])
    print(f"\nclient-visible gap per fault, door on the {kind} (s): fault to the client's first")
    print("event from the new server, on a stream held through the door")
    print(f"{'':20} {'n':>3} {'median':>8} {'max':>8} {'- cold start':>13}")
    for name, samples in gaps.items():
        extra = "" if name == "cold start" else f"{statistics.median(samples) - cold:>13.3f}"
        median = statistics.median(samples)
        print(f"{name:20} {len(samples):>3} {median:>8.3f} {max(samples):>8.3f} {extra}")


async def main(options: argparse.Namespace) -> int:
    quiet_logs()
    print(f"\n{machine()}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="front-door-bench-") as tmp:
        root = Path(tmp)
        if "rest" in options.sections:
            found = await server_section(options.binary, root, options.runs, options.requests)
            rest_table(found)
        if "burst" in options.sections:
            burst_table(await burst_section(options.runs))
        if "faults" in options.sections:
            for kind in options.fault_loops:
                gap_table(kind, await fault_section(options.binary, root, options.runs, kind))
    return 0


EVENTS = 10_000
FAULT_LIMIT_S = 120.0  # a fault not recovered from by then is reported, not waited for

if __name__ == "__main__":
    args = parser(__doc__.splitlines()[0], runs=3)
    args.add_argument("--requests", type=int, default=1000, help="REST requests a row a run")
    args.add_argument("--events", type=int, default=EVENTS)
    args.add_argument("--sections", nargs="*", default=["rest", "burst", "faults"])
    args.add_argument("--fault-loops", nargs="*", default=["thread"], help="qt loop, thread")
    args.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    args.add_argument("--read", help=argparse.SUPPRESS)
    args.add_argument("--hold", help=argparse.SUPPRESS)
    args.add_argument("--latency", help=argparse.SUPPRESS)
    args.add_argument("--httpx", action="store_true", help=argparse.SUPPRESS)
    args.add_argument("--auth", help=argparse.SUPPRESS)
    args.add_argument("--count", type=int, default=500, help=argparse.SUPPRESS)
    options = args.parse_args()
    EVENTS = options.events
    if options.upstream:
        asyncio.run(serve_burst(options.upstream, options.events))
    elif options.read:
        asyncio.run(read_burst(options.read, options.auth))
    elif options.latency:
        asyncio.run(measure_latencies(options.latency, options.auth, options.count, options.httpx))
    elif options.hold:
        asyncio.run(hold_streams(options.hold, options.auth, options.count))
    else:
        app = QApplication.instance() or QApplication(sys.argv[:1])
        loop = qasync.QEventLoop(app)
        with loop:
            sys.exit(loop.run_until_complete(main(options)))

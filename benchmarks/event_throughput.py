"""Event throughput: a recorded burst of `message.part.delta` events from a local server, read
(1) by plain httpx-sse iteration, (2) by the app's reader (`event_data` + `decode`), and (3) by
the reader feeding a connected `Supervisor` as the engine does, in events per second; then
whether Qt stays responsive while the burst goes through the whole engine path on qasync.

    .venv/bin/python benchmarks/event_throughput.py [--runs N] [--events N]

Responsiveness: a 10 ms QTimer runs throughout; its lateness is how long the UI would wait.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import qasync
from benchlib import machine, p90, quiet_logs
from httpx_sse import aconnect_sse
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tests.core.driver import Driver
from tests.support.fake_server import CONNECTED, FakeServer, event_stream
from tray.core.messages import Event, StreamEvent
from tray.engine.stream import MAX_EVENT_BYTES, decode, event_data, read_events
from tray.generations.v1 import STREAM_PATH as PATH

TICK_MS = 10


def burst(count: int) -> list[str]:
    """`count` deltas of a streamed answer, as the server sends them on /global/event."""
    session, message = "ses_bench0000000000000000", "msg_bench00000000000000000"
    return [CONNECTED] + [
        json.dumps(
            {
                "directory": "/home/user/project",
                "payload": {
                    "id": f"evt_{n:024d}",
                    "type": "message.part.delta",
                    "properties": {
                        "sessionID": session,
                        "messageID": message,
                        "partID": "prt_bench000000000000000000",
                        "field": "text",
                        "delta": f"word{n} ",
                    },
                },
            }
        )
        for n in range(count)
    ]


async def raw_httpx_sse(client: httpx.AsyncClient) -> int:
    seen = 0
    async with aconnect_sse(client, "GET", PATH) as source:
        async for _sse in source.aiter_sse():
            seen += 1
    return seen


async def app_reader(client: httpx.AsyncClient) -> int:
    seen = 0
    async with client.stream("GET", PATH) as response:
        async for data in event_data(response.aiter_bytes(), MAX_EVENT_BYTES):
            seen += data is not None and decode(data) is not None
    return seen


async def reader_and_supervisor(client: httpx.AsyncClient) -> int:
    driver = Driver()
    driver.start()
    driver.boot()
    driver.connect()
    gen, now = driver.stream_gen, time.monotonic
    seen = 0
    async with client.stream("GET", PATH) as response:
        async for data in event_data(response.aiter_bytes(), MAX_EVENT_BYTES):
            event = None if data is None else decode(data)
            if event is not None:
                driver.sup.handle(StreamEvent(gen, event), now())
                seen += 1
    return seen


async def raw_httpx_sse_and_parse(client: httpx.AsyncClient) -> int:
    seen = 0
    async with aconnect_sse(client, "GET", PATH) as source:
        async for sse_event in source.aiter_sse():
            seen += decode(sse_event.data) is not None
    return seen


async def rate(
    read: Callable[[httpx.AsyncClient], Awaitable[int]], url: str, runs: int
) -> list[float]:
    """Events per second of each run."""
    rates = []
    for _ in range(runs):
        async with httpx.AsyncClient(base_url=url, timeout=None) as client:
            started = time.perf_counter()
            seen = await read(client)
            rates.append(seen / (time.perf_counter() - started))
    return rates


async def responsiveness(url: str) -> tuple[float, list[float]]:
    """The whole burst through `read_events` into a supervisor on this qasync loop, with a
    10 ms QTimer beside it: the burst's duration and the timer's lateness at each tick."""
    driver = Driver()
    driver.start()
    driver.boot()
    driver.connect()
    lateness: list[float] = []
    last = time.perf_counter()

    def tick() -> None:
        nonlocal last
        now = time.perf_counter()
        lateness.append(max(0.0, now - last - TICK_MS / 1000))
        last = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(TICK_MS)

    def emit(event: Event) -> None:
        if isinstance(event, StreamEvent):
            event = StreamEvent(driver.stream_gen, event.event)
        driver.sup.handle(event, time.monotonic())

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        await read_events(client, driver.stream_gen, emit)
    took = time.perf_counter() - started
    timer.stop()
    return took, lateness


async def main(runs: int, events: int) -> int:
    quiet_logs()
    data = burst(events)
    async with FakeServer({PATH: event_stream(*data)}) as server:
        raw = await rate(raw_httpx_sse, server.url, runs)
        raw_parsed = await rate(raw_httpx_sse_and_parse, server.url, runs)
        ours = await rate(app_reader, server.url, runs)
        full = await rate(reader_and_supervisor, server.url, runs)
        took, lateness = await responsiveness(server.url)
    print(f"\n{machine()}")
    print(f"\nevent throughput, {events} message.part.delta events, {runs} runs (events/s)")
    print(f"{'':40} {'median':>10} {'min':>10} {'max':>10}")
    for name, samples in (
        ("httpx-sse aiter_sse (raw)", raw),
        ("httpx-sse aiter_sse + decode", raw_parsed),
        ("app reader: event_data + decode", ours),
        ("app reader + Supervisor.handle", full),
    ):
        print(
            f"{name:40} {statistics.median(samples):>10.0f} {min(samples):>10.0f} "
            f"{max(samples):>10.0f}"
        )
    print(f"\nUI during the burst ({events} events in {took:.2f} s through read_events):")
    print(
        f"  {TICK_MS} ms QTimer: {len(lateness)} ticks, lateness median "
        f"{statistics.median(lateness) * 1000:.1f} ms, p90 {p90(lateness) * 1000:.1f} ms, "
        f"max {max(lateness) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--runs", type=int, default=5)
    args.add_argument("--events", type=int, default=10_000)
    options = args.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    with loop:
        sys.exit(loop.run_until_complete(main(options.runs, options.events)))

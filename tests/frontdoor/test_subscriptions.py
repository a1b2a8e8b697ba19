"""A new server that is slow to answer, or refuses, a stream's subscription.

The real server answers a subscription at once, except when it does not: under load, a
`/global/event` subscribed the moment a new server was ready got nothing for over a minute
while its REST calls were answered, and the sessions created meanwhile were never heard of.
That cannot be provoked on demand, so a small fake server stands in for it here: the door must
keep the requests it holds until every stream is on the new server (subscribing again when a
subscription stays silent), and must not hold them for a stream the server refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.credentials import PRIVATE, PUBLIC
from tests.support.fake_server import FakeServer, Reply, Request, head, plain
from tests.support.sse import frame, global_event
from tests.support.waiting import wait_until
from tray.core.door import streams as door_streams
from tray.core.door.phases import ServerView, Upstream
from tray.core.status import State
from tray.frontdoor.config import DoorTimings
from tray.frontdoor.door import DoorConfig, FrontDoor

pytestmark = pytest.mark.timeout(60)

SILENCE_S = 1.5  # the door's limits in these tests: silence on a live stream (30 s in the app)
FIRST_EVENT_S = 0.5  # and a new subscription's first event (5 s in the app, then longer)


@dataclass
class Subscriptions:
    """`/global/event` that leaves its first `stuck` subscriptions unanswered, refuses those
    with `?directory=refused`, and sends `session.created` to every open stream for each
    `POST /session`."""

    stuck: int = 0
    subscriptions: int = 0
    streams: list[asyncio.StreamWriter] = field(default_factory=list)

    def routes(self) -> dict[str, Reply]:
        return {
            "GET /global/event": self.event,
            "POST /session": self.create,
            "GET /session": plain(200, "application/json", "[]"),
        }

    async def event(self, request: Request, writer: asyncio.StreamWriter) -> None:
        self.subscriptions += 1
        if request.query.get("directory") == "refused":
            await plain(400, "application/json", '{"name": "BadRequest"}')(request, writer)
            return
        if self.subscriptions <= self.stuck:
            await asyncio.Event().wait()  # accepted, never answered
        writer.write(head(200, "text/event-stream") + frame(global_event("server.connected")))
        self.streams.append(writer)
        await asyncio.Event().wait()

    async def create(self, request: Request, writer: asyncio.StreamWriter) -> None:
        info = {"id": f"ses_{len(self.streams)}_{time.monotonic_ns()}"}
        for stream in self.streams:
            stream.write(frame(global_event("session.created", info=info)))
        await plain(200, "application/json", json.dumps(info))(request, writer)


@pytest.fixture(autouse=True)
def short_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(door_streams, "FIRST_EVENT_S", FIRST_EVENT_S)


@contextlib.asynccontextmanager
async def serve(fake: Subscriptions) -> AsyncIterator[Upstream]:
    async with FakeServer(fake.routes()) as server:
        yield Upstream(server.url, PRIVATE)


async def created_events(response: httpx.Response, into: list[str]) -> None:
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            payload = json.loads(line[len("data: ") :])["payload"]
            into.append(payload["type"])


async def on_a_new_server(
    fake: Subscriptions, query: str, then: Callable[[], Awaitable[None]] | None = None
) -> tuple[list[str], httpx.Response, float]:
    """A client's stream held while the server is away, then a new server comes up and the
    client creates a session at once (and awaits `then`): what its stream got, the answer, and
    how long it took."""
    timings = DoorTimings(stream_read_timeout_s=SILENCE_S)
    door = FrontDoor(DoorConfig(port=0, hold_limit_s=20.0, timings=timings), PUBLIC)
    url = await door.start()
    door.server_changed(ServerView(State.STARTING, None))
    seen: list[str] = []
    try:
        auth = (PUBLIC.username, PUBLIC.password)
        async with (
            serve(fake) as upstream,
            httpx.AsyncClient(auth=auth, timeout=30) as client,
            client.stream("GET", f"{url}/global/event{query}") as stream,
        ):
            reader = asyncio.create_task(created_events(stream, seen))
            await wait_until(lambda: door.stats().streams == 1, "the stream to be held", 30.0)
            door.server_changed(ServerView(State.CONNECTED, upstream))
            started = time.monotonic()
            answer = await client.post(f"{url}/session", json={})
            took = time.monotonic() - started
            if "refused" not in query:
                await wait_until(lambda: "session.created" in seen, "session.created", 30.0)
            if then is not None:
                await then()
            reader.cancel()
    finally:
        await door.close()
    return seen, answer, took


async def test_a_silent_subscription_is_made_again_and_held_requests_wait_for_it() -> None:
    fake = Subscriptions(stuck=2)
    seen, answer, took = await on_a_new_server(fake, "")
    assert answer.status_code == 200, answer.text
    assert fake.subscriptions >= 3  # two silent ones, then one that answered
    assert seen.count("session.created") == 1
    assert took >= FIRST_EVENT_S * 3  # held until the stream was on the new server (0.5 + 1 s)


async def test_a_stream_gone_silent_is_subscribed_again() -> None:
    """The fake sends no heartbeats: past the silence limit its stream counts as dead."""
    fake = Subscriptions()

    async def subscribed_again() -> None:
        await wait_until(lambda: fake.subscriptions >= 2, "a new subscription", within=10)
        await wait_until(lambda: len(fake.streams) >= 2, "its answer", within=10)

    _seen, answer, _took = await on_a_new_server(fake, "", subscribed_again)
    assert answer.status_code == 200, answer.text


async def test_a_refused_subscription_does_not_hold_requests() -> None:
    fake = Subscriptions()
    _seen, answer, took = await on_a_new_server(fake, "?directory=refused")
    assert answer.status_code == 200, answer.text
    assert took < 5.0  # not the 10 s (half the hold limit) a stream not on the server may take

"""A front door over the real server, for tests: its public URL and credentials, the engine
behind it, and the faults a test injects into the server (SIGKILL, SIGSTOP, restart)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx

from tests.engine.helpers import Harness, running
from tests.support.waiting import wait_until
from tray.core.door.phases import Credentials
from tray.core.status import State, Status
from tray.engine.launch import ServerLaunch
from tray.frontdoor.door import DoorConfig, FrontDoor
from tray.shell.door_feed import follow

REQUEST_TIMEOUT_S = 120.0
# A start took 30 s and more at a load of 25 on 2 cores, with other tests running.
LOADED_S = 120.0


@dataclass
class DoorUnderTest:
    """A running front door (`url`, `username`, `password`: what a client is given) in front of
    a real server run by a real engine (`harness`)."""

    door: FrontDoor
    harness: Harness

    @property
    def url(self) -> str:
        return self.door.url

    @property
    def username(self) -> str:
        return self.harness.engine.launch.username()

    @property
    def password(self) -> str:
        return self.harness.engine.launch.password.value

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    def client(self, **options: Any) -> httpx.AsyncClient:
        """An httpx client on the public URL with the user's credentials."""
        options.setdefault("timeout", REQUEST_TIMEOUT_S)
        return httpx.AsyncClient(base_url=self.url, auth=self.auth, trust_env=False, **options)

    def server_pid(self) -> int:
        pid = self.harness.engine.status().pid
        assert pid is not None, f"no server running: {self.harness.trail()}"
        return pid

    async def ready(self) -> Status:
        return await self.harness.connected(within=LOADED_S)

    # -- faults ---------------------------------------------------------------------------------

    def kill(self) -> int:
        """SIGKILL the server now; its pid."""
        pid = self.server_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def freeze(self) -> int:
        """SIGSTOP the server (the engine restarts it past the hung limit); its pid."""
        pid = self.server_pid()
        os.kill(pid, signal.SIGSTOP)
        return pid

    @staticmethod
    def thaw(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)

    def restart(self) -> None:
        """What `opencode-tray restart` does."""
        self.harness.engine.restart()

    async def gone(self, old: Status) -> Status:
        """The engine has seen that `old`'s server is gone."""
        return await self.harness.wait_for(
            "the server gone", lambda s: s.pid != old.pid, within=LOADED_S
        )

    async def back_after(self, old: Status) -> Status:
        """Connected again, to a server other than `old`'s."""
        return await self.harness.connected_to_a_new_server(old, within=LOADED_S)


@contextlib.asynccontextmanager
async def door_over(launch: ServerLaunch, **config: Any) -> AsyncIterator[DoorUnderTest]:
    """A front door on the launch's port, the server behind it on a private one."""
    public = Credentials(launch.username(), launch.password.value)
    settings = launch.settings
    door = FrontDoor(
        DoorConfig(port=settings.port, hold_limit_s=settings.startup_timeout_s, **config), public
    )
    await door.start()
    try:
        async with running(replace(launch, public_url=door.url), start=False) as harness:
            follow(door, harness.engine)
            harness.engine.start()
            yield DoorUnderTest(door, harness)
    finally:
        await door.close()


async def read_events(
    response: httpx.Response, into: list[dict[str, Any]], stop: asyncio.Event | None = None
) -> None:
    """Append each event's JSON to `into` until the stream ends (or `stop` is set); a strict
    client: any transport error fails the test that awaits this."""
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            into.append(json.loads(line[5:]))
        if stop is not None and stop.is_set():
            return


def event_type(event: dict[str, Any]) -> str:
    payload = event.get("payload", event)
    kind = payload.get("type")
    assert isinstance(kind, str), event
    return kind


def connected(status: Status) -> bool:
    return status.state is State.CONNECTED


class StrictClient:
    """A client on the public URL that fails on any transport error: it follows `/global/event`
    and `/event` and sends REST calls; `errors` holds every transport error it met."""

    PATHS = ("/global/event", "/event")

    def __init__(self, door: DoorUnderTest) -> None:
        self.door = door
        self.http = door.client(limits=httpx.Limits(max_connections=100))
        self.events: dict[str, list[dict[str, Any]]] = {path: [] for path in self.PATHS}
        self.ended: dict[str, bool] = dict.fromkeys(self.PATHS, False)
        self.errors: list[str] = []
        self._readers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> StrictClient:
        for path in self.PATHS:
            self._readers.append(asyncio.create_task(self._follow(path)))
        await wait_until(
            lambda: all(self.saw(path, "server.connected") for path in self.PATHS),
            "server.connected on every stream",
            within=60,
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.http.aclose()

    async def _follow(self, path: str) -> None:
        try:
            async with self.http.stream("GET", path, timeout=httpx.Timeout(30, read=None)) as s:
                if s.status_code != 200:
                    self.errors.append(f"{path}: HTTP {s.status_code}")
                    return
                await read_events(s, self.events[path])
            self.ended[path] = True
        except httpx.TransportError as error:
            self.errors.append(f"{path}: {type(error).__name__}: {error}")

    def saw(self, path: str, kind: str, since: int = 0) -> bool:
        return any(event_type(e) == kind for e in self.events[path][since:])

    def marks(self) -> dict[str, int]:
        """Where each stream is now, to look at what comes after."""
        return {path: len(events) for path, events in self.events.items()}

    def created_since(self, marks: dict[str, int], path: str) -> list[str]:
        found = []
        for event in self.events[path][marks[path] :]:
            payload = event.get("payload", event)
            if payload.get("type") == "session.created":
                found.append(payload["properties"]["info"]["id"])
        return found

    def after(self, marks: dict[str, int], path: str) -> list[dict[str, Any]]:
        return [e.get("payload", e) for e in self.events[path][marks[path] :]]

    async def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """A REST call; a transport error is recorded and re-raised."""
        try:
            return await self.http.request(method, path, **options)
        except httpx.TransportError as error:
            self.errors.append(f"{method} {path}: {type(error).__name__}: {error}")
            raise

    async def new_session(self) -> str:
        answer = await self.call("POST", "/session", json={"title": "strict"})
        assert answer.status_code == 200, answer.text
        session_id: str = answer.json()["id"]
        return session_id

    async def sees_new_sessions(self) -> None:
        """Sessions made now show up on every stream: the streams deliver again."""
        marks = self.marks()
        made = [await self.new_session() for _ in range(2)]
        await wait_until(
            lambda: all(
                [s for s in self.created_since(marks, p) if s in made] == made for p in self.PATHS
            ),
            f"sessions {made} on every stream",
            within=30,
        )

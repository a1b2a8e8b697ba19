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
from tray.core.front_door import Credentials
from tray.core.status import State, Status
from tray.engine.engine import ServerLaunch
from tray.frontdoor.door import DoorConfig, FrontDoor
from tray.frontdoor.feed import follow

REQUEST_TIMEOUT_S = 60.0


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
        return await self.harness.connected()

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

    async def back_after(self, old: Status) -> Status:
        """Connected again, to a server other than `old`'s."""
        return await self.harness.connected_to_a_new_server(old)


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


async def wait_until(
    check: Any, what: str, within: float = 30.0, every: float = 0.05
) -> None:
    for _ in range(round(within / every)):
        if check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"no {what} within {within:.0f} s")


def connected(status: Status) -> bool:
    return status.state is State.CONNECTED

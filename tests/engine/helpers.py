"""The engine test harness: an engine on a test port, waits on the states it publishes, and
what the tests need to find, freeze and clean up the real server's processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from tests.support.processes import kill_servers
from tray.core.status import State, Status
from tray.engine.engine import Engine
from tray.engine.launch import ServerLaunch

# A start takes 1-3 s on an idle machine, and 20 s and more at a load of 20 on 2 cores (other
# test runs beside this one): the budget covers that.
START_S = 60.0
SHUTDOWN_S = 20.0
POLL_S = 0.05
# A session's event comes within milliseconds; one not heard by then is taken as never sent.
HEARD_S = 10.0
# Fast retries and stops (the launches' defaults here), so a fault and its recovery fit a test.
FAST: dict[str, Any] = {
    "restart_backoff_min_s": 0.5,
    "restart_backoff_max_s": 2.0,
    "reconnect_max_s": 2.0,
    "stop_grace_s": 3.0,
}


class LaunchFactory(Protocol):
    def __call__(self, **settings: Any) -> ServerLaunch: ...


@dataclass(frozen=True)
class Seen:
    """One published status, with the loop time it was published at."""

    at: float
    status: Status

    def __str__(self) -> str:
        status = self.status
        cause = status.cause.text if status.cause else "-"
        busy = f", {len(status.busy_sessions)} busy" if status.busy_sessions else ""
        pending = status.health.pending_restart
        waiting = f", waiting to restart: {pending.kind.value}" if pending else ""
        return f"{self.at:.2f} {status.state.value} ({cause}{busy}{waiting})"


class Harness:
    """Records every status an engine publishes and lets a test await the one it expects."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[Seen] = []
        self._loop = asyncio.get_running_loop()
        self._waiters: list[tuple[Callable[[Status], bool], asyncio.Future[Status]]] = []
        engine.subscribe(lambda snapshot: self._on_status(snapshot.status))

    def _on_status(self, status: Status) -> None:
        self.seen.append(Seen(self._loop.time(), status))
        for predicate, future in self._waiters:
            if not future.done() and predicate(status):
                future.set_result(status)

    def trail(self) -> str:
        return "; ".join(str(seen) for seen in self.seen[-12:])

    async def wait_for(
        self, what: str, predicate: Callable[[Status], bool], within: float = START_S
    ) -> Status:
        """The first status (the current one included) that satisfies `predicate`."""
        current = self.engine.status()
        if predicate(current):
            return current
        entry = (predicate, self._loop.create_future())
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(entry[1], within)
        except TimeoutError:
            pytest.fail(f"no {what} within {within:.0f} s; last states: {self.trail()}")
        finally:
            self._waiters.remove(entry)

    async def wait_state(
        self,
        state: State,
        within: float = START_S,
        where: Callable[[Status], bool] = lambda _: True,
    ) -> Status:
        return await self.wait_for(state.value, lambda s: s.state is state and where(s), within)

    async def connected(self, within: float = START_S) -> Status:
        """Connected, with the pid of the server behind the stream."""
        return await self.wait_state(State.CONNECTED, within, lambda s: s.pid is not None)

    async def connected_to_a_new_server(self, old: Status, within: float = START_S) -> Status:
        """Connected to a server other than the one `old` was connected to."""
        return await self.wait_state(
            State.CONNECTED, within, lambda s: s.pid not in (None, old.pid)
        )

    async def heard_of_a_session(
        self, make: Callable[[], Awaitable[str]], within: float = START_S
    ) -> None:
        """A session made with `make` (it returns its id) whose event the engine had on its
        stream (its list has it): the health watch has counted it as work on the server. A
        server sometimes sends no `session.created` (under load, for a session made while it is
        still starting a project: the client tests' witness on its own stream sees the same):
        another one is made then, every `HEARD_S`."""
        deadline = self._loop.time() + within
        made: list[str] = []
        while True:
            made.append(await make())
            heard_by = min(deadline, self._loop.time() + HEARD_S)
            while self._loop.time() < heard_by:
                if any(s.id in made for s in self.engine.snapshot().recent_sessions):
                    return
                await asyncio.sleep(POLL_S)
            if self._loop.time() >= deadline:
                pytest.fail(f"no event about any of {made} within {within:.0f} s")


@contextlib.asynccontextmanager
async def running(launch: ServerLaunch, start: bool = True) -> AsyncIterator[Harness]:
    """An engine for one test; afterwards its server must be gone (strays are killed)."""
    harness = Harness(Engine(launch))
    if start:
        harness.engine.start()
    try:
        yield harness
    finally:
        await asyncio.wait_for(harness.engine.shutdown(), SHUTDOWN_S)
        strays = kill_servers(launch)
    assert not strays, f"the engine left server processes running: {strays}"

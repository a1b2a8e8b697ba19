"""The front door in the chaos suite: faults one after another on one app, and after every one
a strict client on the public URL saw no transport error, its held requests were answered,
and its streams delivered every event that followed; every session is still there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.chaos.helpers import Sessions
from tests.engine.helpers import LaunchFactory
from tests.frontdoor.helpers import LOADED_S, DoorUnderTest, StrictClient, door_over
from tests.support.waiting import wait_until
from tray.core.door.phases import Phase, phase_of
from tray.core.status import Status

pytestmark = [pytest.mark.chaos, pytest.mark.server, pytest.mark.timeout(900)]

# The server beats every 10 s; the watchdog waits 3 s past a beat, then the hung limit.
WATCHDOG = {"heartbeat_timeout_s": 13.0, "hung_restart_after_s": 2.0}


def kill(running: DoorUnderTest) -> None:
    running.kill()


def restart(running: DoorUnderTest) -> None:
    running.restart()


def freeze(running: DoorUnderTest) -> None:
    running.freeze()


FAULTS: dict[str, Callable[[DoorUnderTest], None]] = {
    "sigkill": kill,
    "restart": restart,
    "sigstop": freeze,
}


def resynced(client: StrictClient, marks: dict[str, int]) -> bool:
    for path in client.PATHS:
        kinds = [e["type"] for e in client.after(marks, path)]
        if "server.connected" not in kinds:
            return False
        after = kinds[kinds.index("server.connected") :]
        if path == "/global/event" and "server.instance.disposed" not in after:
            return False
    return True


async def one_fault(running: DoorUnderTest, client: StrictClient, fault: str) -> None:
    old = running.harness.engine.status()
    marks = client.marks()
    FAULTS[fault](running)
    # Seen as the door sees it: a server whose stream dropped still answers (RECONNECTING is
    # READY), and a POST sent then can reach a server in the middle of dying, which no door hides.
    await running.harness.wait_for(
        "the fault seen",
        lambda s: phase_of(s.state) is not Phase.READY or s.pid != old.pid,
        LOADED_S,
    )
    held = [
        asyncio.create_task(client.call("GET", "/session")),
        asyncio.create_task(client.call("POST", "/session", json={"title": f"during {fault}"})),
    ]
    back: Status = await running.back_after(old)
    answers = await asyncio.gather(*held)
    assert [a.status_code for a in answers] == [200, 200], [a.text[:200] for a in answers]
    await wait_until(lambda: resynced(client, marks), f"the resync after {fault}", LOADED_S)
    await client.sees_new_sessions()
    assert client.errors == [], (fault, client.errors)
    assert not any(client.ended.values()), fault
    assert back.pid != old.pid


@pytest.mark.parametrize("order", [("sigkill", "restart", "sigstop", "sigkill")])
async def test_front_door_through_faults_in_a_row(
    make_launch: LaunchFactory, order: tuple[str, ...]
) -> None:
    async with door_over(make_launch(**WATCHDOG)) as running:
        await running.ready()
        sessions = Sessions(int(running.url.rsplit(":", 1)[1]), lambda: running.auth)
        before = await sessions.create(2)
        async with StrictClient(running) as client:
            for fault in order:
                await one_fault(running, client, fault)
            await sessions.assert_kept(before)
        assert running.door.stats().last_hold_s is not None

"""The front door over the real server: the first things a client does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.frontdoor.helpers import DoorUnderTest, event_type, read_events
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]


async def test_rest_and_a_stream_through_a_sigkill(front_door: DoorUnderTest) -> None:
    events: list[dict[str, Any]] = []
    async with front_door.client() as client:
        assert (await client.get("/global/health")).json()["healthy"] is True
        async with client.stream("GET", "/global/event") as stream:
            reader = asyncio.create_task(read_events(stream, events))
            await wait_until(lambda: events, "first event", 30.0)
            old = front_door.harness.engine.status()
            front_door.kill()
            await front_door.gone(old)
            created = await client.post("/session", json={"title": "after"})
            assert created.status_code == 200, created.text
            await front_door.back_after(old)
            sid = created.json()["id"]
            await wait_until(
                lambda: any(event_type(e) == "server.instance.disposed" for e in events),
                "resync event",
                30.0,
            )
            second = await client.post("/session", json={"title": "after 2"})
            await wait_until(
                lambda: any(
                    e.get("payload", {}).get("properties", {}).get("info", {}).get("id")
                    == second.json()["id"]
                    for e in events
                ),
                "event of a session created after the restart",
                30.0,
            )
            assert not reader.done()
            reader.cancel()
    assert sid

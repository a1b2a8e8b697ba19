"""Closing the door while the server is away: held streams end and `close()` returns at once.

No server is needed: a crashed one is what the door is told about."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.credentials import PUBLIC
from tests.support.waiting import wait_until
from tray.core.door.phases import Credentials, ServerView, Upstream
from tray.core.status import State
from tray.frontdoor.door import DoorConfig, FrontDoor

pytestmark = pytest.mark.timeout(60)

GONE = Upstream("http://127.0.0.1:9", Credentials("opencode", "private"))


@pytest.mark.parametrize("streams", [1, 20])
async def test_closing_while_streams_are_held_through_a_crash_returns_at_once(
    streams: int,
) -> None:
    door = FrontDoor(DoorConfig(port=0), PUBLIC)
    url = await door.start()
    door.server_changed(ServerView(State.CRASHED, GONE))
    ended: list[int] = []

    async def hold(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", url + "/event") as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                pass
        ended.append(1)

    async with httpx.AsyncClient(auth=("opencode", "public-password"), timeout=30) as client:
        holders = [asyncio.create_task(hold(client)) for _ in range(streams)]
        await wait_until(lambda: door.stats().streams == streams, "the streams to be held", 30.0)
        async with asyncio.timeout(5):
            await door.close()
        await asyncio.gather(*holders)
    assert len(ended) == streams

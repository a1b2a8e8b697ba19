"""Fixtures for the front door tests (and the real-client tests): a front door over the real
server, ready for clients.

    async def test_x(front_door: DoorUnderTest) -> None:
        front_door.url, front_door.username, front_door.password  # what a client is given
        front_door.kill() / front_door.freeze() / front_door.restart()  # faults
        await front_door.back_after(old_status)  # a new server is connected
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.engine.conftest import make_launch
from tests.engine.helpers import LaunchFactory
from tests.frontdoor.helpers import DoorUnderTest, door_over

__all__ = ["front_door", "make_launch"]


@pytest.fixture
async def front_door(make_launch: LaunchFactory) -> AsyncIterator[DoorUnderTest]:
    """A front door on a free public port over a real server that is connected (ready)."""
    async with door_over(make_launch()) as door:
        await door.ready()
        yield door

"""The app's front door follows its settings at the server's next start, as the settings dialog
says ("need a server restart"): a new port moves the door there, turning it off lets the server
take the port itself, turning it on again puts the door back in front of a private server. A new
startup timeout (no restart needed) is how long the door holds clients from the next start on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.engine.helpers import Harness, LaunchFactory, running
from tests.frontdoor.helpers import LOADED_S, door_over
from tray.core.status import Status
from tray.engine import ports
from tray.shell.door_wiring import AppDoor

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]


def port_of(url: str | None) -> int | None:
    assert url is not None
    return urlsplit(url).port


async def answers(url: str, auth: tuple[str, str]) -> bool:
    async with httpx.AsyncClient(base_url=url, auth=auth, trust_env=False, timeout=30) as client:
        try:
            return (await client.get("/session")).status_code == 200
        except httpx.ConnectError:
            return False


async def restarted_with(h: Harness, old: Status, **changes: Any) -> Status:
    """Apply `changes`, check nothing moved yet, restart: the new server's status."""
    assert h.engine.apply_settings(replace(h.engine.launch.settings, **changes))
    assert h.engine.status().url == old.url, "moved before the restart"
    h.engine.restart()
    return await h.connected_to_a_new_server(old, within=LOADED_S)


async def test_the_door_moves_closes_and_opens_with_its_settings_at_the_next_start(
    make_launch: LaunchFactory,
) -> None:
    launch = make_launch()
    auth = launch.credentials()
    first_port = launch.settings.port
    warned: list[str] = []
    async with running(launch, start=False) as h:
        door = AppDoor(h.engine)
        door.claim()
        h.engine.start()
        await door.start(warned.append)
        try:
            behind = await h.connected(within=LOADED_S)
            assert port_of(behind.url) == first_port
            assert port_of(behind.upstream_url) != first_port
            assert await answers(f"http://127.0.0.1:{first_port}", auth)

            second_port = ports.any_free()
            moved = await restarted_with(h, behind, port=second_port)
            assert port_of(moved.url) == second_port
            assert port_of(moved.upstream_url) != second_port, "the server is behind the door"
            assert door.door is not None
            assert door.door.config.port == second_port
            assert await answers(f"http://127.0.0.1:{second_port}", auth)
            assert not await answers(f"http://127.0.0.1:{first_port}", auth), "the old door"

            direct = await restarted_with(h, moved, front_door=False)
            assert door.stats() is None
            assert direct.url == direct.upstream_url
            assert port_of(direct.url) == second_port, "the server on the port itself"
            assert await answers(f"http://127.0.0.1:{second_port}", auth)

            again = await restarted_with(h, direct, front_door=True)
            assert port_of(again.url) == second_port
            assert port_of(again.upstream_url) != second_port
            stats = door.stats()
            assert stats is not None
            assert stats.url is not None
            assert await answers(f"http://127.0.0.1:{second_port}", auth)
            assert warned == []
        finally:
            await door.close()


async def test_a_new_startup_timeout_is_how_long_the_door_holds_clients_at_the_next_start(
    make_launch: LaunchFactory,
) -> None:
    async with door_over(make_launch(startup_timeout_s=60.0)) as door:
        first = await door.ready()
        assert door.door.config.hold_limit_s == 60.0
        engine = door.harness.engine
        assert not engine.apply_settings(replace(engine.launch.settings, startup_timeout_s=150.0))
        door.restart()
        await door.back_after(first)
        assert door.door.config.hold_limit_s == 150.0

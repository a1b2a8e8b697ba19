"""The browser's one-time login (a cookie for the page, its assets, API calls and streams),
and each of the door's bounds answering with a clear error instead of a hang."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import httpx
import pytest

from tests.engine.helpers import LaunchFactory
from tests.frontdoor.helpers import DoorUnderTest, door_over, event_type, read_events
from tests.support.waiting import wait_until
from tray.core.door.auth import COOKIE_NAME
from tray.core.door.phases import Credentials
from tray.core.status import State

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]


async def test_a_one_time_login_sets_a_cookie_that_opens_everything(
    front_door: DoorUnderTest,
) -> None:
    url = front_door.door.login_url("/L3c/session/ses_1?auth_token=secret")
    assert "secret" not in url
    async with httpx.AsyncClient(base_url=front_door.url, timeout=30) as browser:
        assert (await browser.get("/")).status_code == 401  # no cookie, no credentials
        first = await browser.get(url.removeprefix(front_door.url))
        assert first.status_code == 303
        assert first.headers["location"] == "/L3c/session/ses_1"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert COOKIE_NAME in browser.cookies
        again = await browser.get(url.removeprefix(front_door.url))
        assert again.status_code == 403
        assert "used already or has expired" in again.json()["data"]["message"]
        page = await browser.get("/")
        assert page.status_code == 200
        for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text):
            assert (await browser.get(asset)).status_code == 200, asset
        assert (await browser.get("/session")).status_code == 200
        async with browser.stream("GET", "/global/event") as stream:
            assert stream.status_code == 200
            seen: list[dict[str, Any]] = []
            # Read in a task that is cancelled, not left at a `break`: the cancellation closes
            # httpx's chain of generators under it now, not the garbage collector later.
            reader = asyncio.create_task(read_events(stream, seen))
            await wait_until(lambda: bool(seen), "the first event", 30.0)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            assert event_type(seen[0]) == "server.connected"


async def test_the_web_manifest_alone_is_served_without_credentials(
    front_door: DoorUnderTest,
) -> None:
    """Browsers fetch `<link rel="manifest">` with neither cookie nor Basic credentials."""
    async with httpx.AsyncClient(base_url=front_door.url, timeout=30) as browser:
        manifest = await browser.get("/site.webmanifest")
        assert manifest.status_code == 200, manifest.text
        assert manifest.json()["name"]
        assert (await browser.post("/site.webmanifest")).status_code == 401
        assert (await browser.get("/favicon-v3.svg")).status_code == 401
        assert (await browser.get("/session")).status_code == 401


async def test_a_rotation_ends_browser_sessions(front_door: DoorUnderTest) -> None:
    url = front_door.door.login_url("/")
    async with httpx.AsyncClient(base_url=front_door.url, timeout=30) as browser:
        await browser.get(url.removeprefix(front_door.url))
        assert (await browser.get("/session")).status_code == 200
        front_door.door.set_credentials(Credentials(front_door.username, "new"))
        assert (await browser.get("/session")).status_code == 401


async def test_bounds_answer_with_clear_errors(make_launch: LaunchFactory) -> None:
    launch = make_launch(heartbeat_timeout_s=13.0, hung_restart_after_s=600.0)
    async with door_over(
        launch, max_connections=8, max_held_requests=2, max_body_bytes=1000
    ) as running:
        await running.ready()
        async with running.client() as client:
            big = await client.post("/session", content=b"x" * 1001)
            assert big.status_code == 413
            assert "1000 bytes at most" in big.json()["data"]["message"]
            header = await client.get("/session", headers={"x-big": "y" * 20_000})
            assert header.status_code == 431
            assert "headers are over 16384 bytes" in header.json()["data"]["message"]
        # Connections: past the bound, the next one is told so at once.
        sockets = [socket.create_connection(("127.0.0.1", launch.settings.port)) for _ in range(9)]
        try:
            async with running.client() as extra:
                over = await extra.get("/session")
                assert over.status_code == 503
                assert "takes 8 connections" in over.json()["data"]["message"]
        finally:
            for sock in sockets:
                sock.close()
        # Held requests: a frozen server; the third request waiting is refused.
        pid = running.freeze()
        try:
            await running.harness.wait_for(
                "the hang seen", lambda s: s.state is not State.CONNECTED, within=60
            )
            async with running.client() as client:
                held = [asyncio.create_task(client.get("/session")) for _ in range(2)]
                await asyncio.sleep(0.5)
                third = await client.get("/session")
                assert third.status_code == 503
                assert "2 requests are waiting already" in third.json()["data"]["message"]
                for task in held:
                    task.cancel()
        finally:
            running.thaw(pid)

"""The front door forwards faithfully: REST, the web app's pages and assets, large and chunked
bodies, keep-alive, the directory, WebSocket upgrades, and many clients at once."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
import pytest

from tests.engine.helpers import LaunchFactory
from tests.frontdoor.helpers import DoorUnderTest, door_over, event_type, read_events
from tests.support.waiting import wait_until
from tray.frontdoor.config import ListenerTimings
from tray.runtime import logs

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]

TEN_MB = 10 * 1024 * 1024


def direct(front_door: DoorUnderTest) -> httpx.AsyncClient:
    """Straight to the private server, with its own per-start password."""
    upstream = front_door.harness.engine.snapshot().upstream
    assert upstream is not None
    creds = upstream.credentials
    return httpx.AsyncClient(
        base_url=upstream.url, auth=(creds.username, creds.password), timeout=60, trust_env=False
    )


async def test_the_per_start_password_is_kept_out_of_the_log(front_door: DoorUnderTest) -> None:
    upstream = front_door.harness.engine.snapshot().upstream
    assert upstream is not None
    assert upstream.credentials.password in logs.secret_filter.secrets


async def test_rest_answers_are_the_servers(front_door: DoorUnderTest) -> None:
    async with front_door.client() as door, direct(front_door) as server:
        created = await door.post("/session", json={"title": "through the door"})
        assert created.status_code == 200
        sid = created.json()["id"]
        for path in ("/session", f"/session/{sid}", "/global/health", "/config", "/path"):
            via_door, via_server = await door.get(path), await server.get(path)
            assert via_door.status_code == via_server.status_code, path
            assert via_door.json() == via_server.json(), path
        missing = await door.get("/session/ses_doesnotexist000000000000")
        assert missing.status_code == 404
        assert missing.json()["name"] == "NotFoundError"
        bad = await door.post("/session", content=b"{not json", headers={"content-type": "x"})
        assert bad.status_code == (await server.post("/session", content=b"{not json")).status_code
        patched = await door.patch(f"/session/{sid}", json={"title": "renamed"})
        assert patched.json()["title"] == "renamed"
        assert (await door.delete(f"/session/{sid}")).status_code == 200
        head = await door.head("/global/health")
        assert head.status_code == 200
        assert head.content == b""


async def test_the_web_app_and_its_assets(front_door: DoorUnderTest) -> None:
    async with front_door.client() as door, direct(front_door) as server:
        page = await door.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.text == (await server.get("/")).text
        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
        assert assets, page.text[:500]
        for asset in assets:
            via_door, via_server = await door.get(asset), await server.get(asset)
            assert via_door.status_code == 200, asset
            assert via_door.content == via_server.content, asset
            assert via_door.headers.get("content-type") == via_server.headers.get("content-type")
        deep = await door.get("/L3RtcA/session/ses_x")  # a web app route: the page again
        assert deep.status_code == 200


async def message_with(client: httpx.AsyncClient, sid: str, body: Any) -> httpx.Response:
    return await client.post(
        f"/session/{sid}/message", content=body, headers={"content-type": "application/json"}
    )


def text_message(text: str) -> bytes:
    return json.dumps({"noReply": True, "parts": [{"type": "text", "text": text}]}).encode()


async def test_a_10_mb_body_and_a_large_read_come_through_whole(front_door: DoorUnderTest) -> None:
    big = base64.b64encode(os.urandom(TEN_MB * 3 // 4)).decode()
    assert len(big) == TEN_MB
    async with front_door.client() as door:
        sid = (await door.post("/session", json={})).json()["id"]
        sent = await message_with(door, sid, text_message(big))
        assert sent.status_code == 200, sent.text[:300]
        listed = await door.get(f"/session/{sid}/message")
        assert listed.status_code == 200
        assert len(listed.content) > TEN_MB
        texts = [p.get("text") for m in listed.json() for p in m["parts"]]
        assert big in texts


async def test_a_chunked_body_comes_through(front_door: DoorUnderTest) -> None:
    body = text_message("chunked " + "x" * 300_000)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]
            await asyncio.sleep(0)

    async with front_door.client() as door:
        sid = (await door.post("/session", json={})).json()["id"]
        sent = await message_with(door, sid, pieces())
        assert sent.status_code == 200, sent.text[:300]
        listed = (await door.get(f"/session/{sid}/message")).json()
        assert [p["text"] for m in listed for p in m["parts"]] == ["chunked " + "x" * 300_000]


def connections_to(port: int) -> set[int]:
    """Local ports of this process's connections to `port`."""
    me = psutil.Process()
    return {
        c.laddr.port
        for c in me.net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


async def test_keep_alive_reuses_one_connection(front_door: DoorUnderTest) -> None:
    port = int(front_door.url.rsplit(":", 1)[1])
    async with front_door.client(limits=httpx.Limits(max_connections=1)) as door:
        seen: set[int] = set()
        for _ in range(30):
            assert (await door.get("/session")).status_code == 200
            seen |= connections_to(port)
        assert len(seen) == 1


async def test_the_directory_goes_through_as_query_and_header(
    front_door: DoorUnderTest, tmp_path: Path
) -> None:
    by_query, by_header = tmp_path / "q", tmp_path / "h"
    by_query.mkdir()
    by_header.mkdir()
    async with front_door.client() as door:
        made = await door.post("/session", params={"directory": str(by_query)}, json={})
        assert made.json()["directory"] == str(by_query)
        made = await door.post(
            "/session", headers={"x-opencode-directory": str(by_header)}, json={}
        )
        assert made.json()["directory"] == str(by_header)
        paths = (await door.get("/path", params={"directory": str(by_query)})).json()
        assert paths["directory"] == str(by_query)


async def test_the_terminal_websocket_echoes(front_door: DoorUnderTest) -> None:
    token = base64.b64encode(f"{front_door.username}:{front_door.password}".encode()).decode()
    async with front_door.client() as door:
        pty = (await door.post("/pty", json={"command": "/bin/cat"})).json()["id"]
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{front_door.url}/pty/{pty}/connect?auth_token={token}") as ws,
    ):
        # a connection at work this long is watched
        await asyncio.sleep(ListenerTimings().watch_after_s * 4)
        await ws.send_str("hello door\n")
        seen = ""
        while "hello door" not in seen:
            message = await asyncio.wait_for(ws.receive(), 60)
            if message.type is aiohttp.WSMsgType.TEXT:
                seen += message.data
            assert message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), message


async def test_200_event_streams_each_get_every_event(front_door: DoorUnderTest) -> None:
    streams = 200
    created = 5
    logs: list[list[dict[str, Any]]] = [[] for _ in range(streams)]
    limits = httpx.Limits(max_connections=streams + 10)
    async with front_door.client(limits=limits) as door:

        async def follow(into: list[dict[str, Any]]) -> None:
            path = "/global/event" if id(into) % 2 else "/event"
            async with door.stream("GET", path) as stream:
                assert stream.status_code == 200
                await read_events(stream, into)

        readers = [asyncio.create_task(follow(log)) for log in logs]
        await wait_until(
            lambda: all(any(event_type(e) == "server.connected" for e in log) for log in logs),
            "every stream's server.connected",
            within=120,
        )
        ids = []
        for n in range(created):
            ids.append((await door.post("/session", json={"title": f"s{n}"})).json()["id"])

        def created_on(log: list[dict[str, Any]]) -> list[str]:
            return [
                e.get("payload", e)["properties"]["info"]["id"]
                for e in log
                if event_type(e) == "session.created"
            ]

        await wait_until(lambda: all(created_on(log) == ids for log in logs), "every event", 120)
        assert not any(r.done() for r in readers)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def test_1000_concurrent_requests_are_answered_unmixed(make_launch: LaunchFactory) -> None:
    """aiohttp as the client: httpx's pool is the slow part with 1,000 connections at once.
    The server answers them slowly on a loaded machine: no restart for slow requests here."""
    async with door_over(make_launch(request_hang_s=600.0)) as front_door:
        await front_door.ready()
        await thousand_requests(front_door)


async def thousand_requests(front_door: DoorUnderTest) -> None:
    basic = "Basic " + base64.b64encode(":".join(front_door.auth).encode()).decode()
    async with aiohttp.ClientSession(
        headers={"Authorization": basic},
        connector=aiohttp.TCPConnector(limit=1000),
        timeout=aiohttp.ClientTimeout(total=300),
    ) as client:

        async def call(method: str, path: str, **options: Any) -> tuple[int, Any]:
            async with client.request(method, front_door.url + path, **options) as answer:
                return answer.status, await answer.json()

        ids = [(await call("POST", "/session", json={}))[1]["id"] for _ in range(20)]
        wanted = [ids[n % len(ids)] for n in range(1000)]
        answers = await asyncio.gather(*(call("GET", f"/session/{sid}") for sid in wanted))
        refused = [body for status, body in answers if status != 200]
        assert refused == []
        assert [body["id"] for _, body in answers] == wanted
        assert front_door.door.stats().requests_relayed >= 1020

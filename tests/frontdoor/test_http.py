"""The door's HTTP/1.1 on its own: what a client sends that is not what the real clients send.

Junk, an oversized head, a client that leaves while it is held, pipelined requests, a chunked
body sent after `Expect: 100-continue`. A raw socket sends what no HTTP library would; a small
echo server stands behind the door where an answer is needed (the real server is behind it in
the other front door tests)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import select
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from tests.support.credentials import PRIVATE, PUBLIC
from tests.support.waiting import wait_until
from tray.core.door.phases import Credentials, ServerView, Upstream
from tray.core.status import State
from tray.frontdoor.door import DoorConfig, FrontDoor

pytestmark = pytest.mark.timeout(60)

AUTH = f"Authorization: {PUBLIC.basic()}\r\n".encode()


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    seen = {
        "method": request.method,
        "length": len(body),
        "authorization": request.headers.get("Authorization"),
        "expect": request.headers.get("Expect"),
    }
    return web.json_response(seen)


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """A server on a free port that answers /echo with `handler`; its port."""
    app = web.Application()
    app.router.add_route("*", "/echo", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def door_in(state: State) -> AsyncIterator[tuple[FrontDoor, int]]:
    """A door on a free port, told the server is in `state` (CONNECTED: the echo server)."""
    async with serving(echo) as server_port, door_before(server_port, state) as door_and_port:
        yield door_and_port


@contextlib.asynccontextmanager
async def door_before(
    server_port: int, state: State = State.CONNECTED
) -> AsyncIterator[tuple[FrontDoor, int]]:
    upstream = Upstream(f"http://127.0.0.1:{server_port}", PRIVATE)
    door = FrontDoor(DoorConfig(port=0, max_header_bytes=4096, max_headers=20), PUBLIC)
    url = await door.start()
    door.server_changed(ServerView(state, upstream if state is State.CONNECTED else None))
    try:
        yield door, int(url.rsplit(":", 1)[1])
    finally:
        await door.close()


class DropsTheFirst:
    """A server that reads the first request to /echo whole and closes its connection without
    an answer (as a server killed right then would); it answers the others with the body's
    length (the door's own requests too)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        _head, _, value = head.lower().partition(b"\r\ncontent-length:")
        length = int(value.split(b"\r\n")[0]) if value else 0
        body = await reader.readexactly(length)
        if head.split()[1] == b"/echo":
            self.bodies.append(body)
            if len(self.bodies) == 1:
                writer.close()
                return
        answer = json.dumps({"length": length}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
        await writer.drain()
        writer.close()


async def exchange(port: int, data: bytes, answers: int = 1) -> list[tuple[int, bytes]]:
    """Send raw `data`, read `answers` answers (status and body) or until the door closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = []
    try:
        for _ in range(answers):
            line = await reader.readline()
            if not line:
                break
            status = int(line.split()[1])
            length = 0
            while (header := await reader.readline()) != b"\r\n":
                name, _, value = header.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            got.append((status, await reader.readexactly(length)))
    finally:
        writer.close()
    return got


def message(body: bytes) -> str:
    return str(json.loads(body)["data"]["message"])


async def test_junk_gets_a_clear_400_and_the_connection_closes() -> None:
    async with door_in(State.FAILED) as (_door, port):
        [(status, body)] = await exchange(port, b"HELLO THERE\r\n\r\n", answers=2)
        assert status == 400
        assert "not valid HTTP/1.1" in message(body)


@pytest.mark.parametrize("parts", [1, 3])
async def test_a_head_over_the_bound_gets_431(parts: int) -> None:
    """Whole in one read or in parts."""
    head = b"GET /session HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 5000 + b"\r\n\r\n"
    async with door_in(State.FAILED) as (_door, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        step = len(head) // parts + 1
        for start in range(0, len(head), step):
            writer.write(head[start : start + step])
            await writer.drain()
            await asyncio.sleep(0.05)
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert b"headers are over 4096 bytes" in answer


async def test_too_many_headers_get_431() -> None:
    head = b"GET /session HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-{n}: y\r\n".encode() for n in range(30)
    )
    async with door_in(State.FAILED) as (_door, port):
        [(status, body)] = await exchange(port, head + b"\r\n")
        assert status == 431
        assert "over 20 header fields" in message(body)


@pytest.mark.parametrize("path", ["/session", "/global/event"])
async def test_a_client_that_leaves_while_held_is_let_go_at_once(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with door_in(State.STARTING) as (door, port):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + AUTH + b"\r\n")
        await wait_until(
            lambda: door.stats().requests_held == 1 or door.stats().streams == 1,
            "it to be held",
            30.0,
        )
        writer.close()
        await wait_until(
            lambda: door.stats().requests_held == door.stats().streams == door.stats().clients == 0,
            "the held request to be let go",
            within=2,
        )
        await asyncio.sleep(0.1)
    # Its connection ended quietly (asyncio logs a connection task that ends cancelled).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.skipif(not hasattr(select, "POLLRDHUP"), reason="the kernel tells only on Linux")
@pytest.mark.parametrize("sent", [10, 100], ids=["part of its body", "all of its body"])
async def test_a_client_that_leaves_while_held_with_a_body_is_not_forwarded(sent: int) -> None:
    """Its body is unread while it is held, so only the kernel can tell that it left. A request
    forwarded after its client gave up would still run (a prompt sent twice, once retried)."""
    reached: list[str] = []

    async def count(request: web.Request) -> web.Response:
        reached.append(request.method)
        return web.json_response({})

    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n" + AUTH + b"\r\n"
    async with serving(count) as server_port, door_before(0, State.STARTING) as (door, port):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b"x" * sent)
        await writer.drain()
        await wait_until(lambda: door.stats().requests_held == 1, "it to be held", 30.0)
        writer.close()
        await wait_until(
            lambda: door.stats().requests_held == door.stats().clients == 0,
            "the held request to be let go",
            within=2,
        )
        upstream = Upstream(f"http://127.0.0.1:{server_port}", PRIVATE)
        door.server_changed(ServerView(State.CONNECTED, upstream))
        [(status, _)] = await exchange(port, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n")
        assert status == 200
    assert reached == ["GET"]


async def test_closing_with_idle_connections_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async with door_in(State.CONNECTED) as (_door, port):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        [(status, _)] = await exchange(port, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n")
        assert status == 200
    writer.close()
    await asyncio.sleep(0.1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_pipelined_requests_are_answered_in_order() -> None:
    one = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    two = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n" + AUTH + b"\r\nabc"
    async with door_in(State.CONNECTED) as (_door, port):
        answers = await exchange(port, one + two + one, answers=3)
        assert [status for status, _ in answers] == [200, 200, 200]
        seen = [json.loads(body) for _, body in answers]
        assert [(s["method"], s["length"]) for s in seen] == [("GET", 0), ("POST", 3), ("GET", 0)]
        assert all(s["authorization"] == PRIVATE.basic() for s in seen)


async def test_a_chunked_body_after_100_continue_reaches_the_server_whole() -> None:
    head = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n" + AUTH + b"\r\n"
    )
    async with door_in(State.CONNECTED) as (_door, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        assert (await reader.readline()).startswith(b"HTTP/1.1 100 ")
        assert await reader.readline() == b"\r\n"
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        answer = await reader.readuntil(b"}")
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ")
        seen = json.loads(answer[answer.index(b"{") :])
        assert seen["length"] == 11
        assert seen["expect"] is None  # the door answered it; the server gets the body at once


@pytest.mark.parametrize(
    ("method", "body", "retried"), [("GET", b"", True), ("POST", b"x" * 10, False)]
)
async def test_a_request_cut_off_at_the_server_is_retried_only_if_safe(
    method: str, body: bytes, retried: bool
) -> None:
    """A request that reached the server, whose connection closed before it answered: a GET is
    sent again; a POST is not (it may have run) and gets a 503 that says what happened."""
    server = DropsTheFirst()
    listening = await asyncio.start_server(server, "127.0.0.1", 0)
    request = f"{method} /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n".encode()
    try:
        async with door_before(listening.sockets[0].getsockname()[1]) as (_door, port):
            [(status, answer)] = await exchange(port, request + AUTH + b"\r\n" + body)
    finally:
        listening.close()
    if retried:
        assert (status, json.loads(answer)) == (200, {"length": 0})
        assert server.bodies == [body, body]
    else:
        assert status == 503
        said = "POST /echo was cut off (the server closed the connection before it answered)"
        assert said in message(answer)
        assert server.bodies == [body]


async def test_a_client_that_breaks_off_its_body_is_let_go_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its request is not answered (no one is there) and nothing is said of the server."""
    caplog.set_level(logging.INFO, "tray.frontdoor")
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n" + AUTH + b"\r\n"
    async with door_in(State.CONNECTED) as (door, port):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b"x" * 10)
        await writer.drain()
        await wait_until(lambda: door.stats().clients == 1, "the client to be in", 30.0)
        writer.close()
        await wait_until(lambda: door.stats().clients == 0, "the client to be let go", within=2)
        assert door.stats().requests_relayed == 0
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "POST" in r.message]


class DropsTheSecond:
    """Keeps its connections alive, and closes one without an answer at the second request
    to /echo (as a server killed right then would): the door had that connection at hand, so
    it sent the request on it at once."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            method, path = head.split()[:2]
            if path == b"/echo":
                self.requests.append(method)
                if len(self.requests) == 2:
                    writer.close()
                    return
            answer = json.dumps({"method": method.decode()}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
            await writer.drain()


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("DELETE", False)])
async def test_a_request_cut_off_on_a_kept_connection_is_retried_only_if_safe(
    method: str, retried: bool
) -> None:
    server = DropsTheSecond()
    listening = await asyncio.start_server(server, "127.0.0.1", 0)
    first = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    second = f"{method} /echo HTTP/1.1\r\nHost: x\r\n".encode() + AUTH + b"\r\n"
    try:
        async with door_before(listening.sockets[0].getsockname()[1]) as (_door, port):
            [(status, _)] = await exchange(port, first)
            assert status == 200
            [(status, answer)] = await exchange(port, second)
    finally:
        listening.close()
    if retried:
        assert (status, json.loads(answer)) == (200, {"method": "GET"})
        assert server.requests == [b"GET", b"GET", b"GET"]
    else:
        assert status == 503
        assert f"{method} /echo was cut off" in message(answer)
        assert server.requests == [b"GET", method.encode()]


async def test_a_head_gets_the_servers_length_and_no_body() -> None:
    head = b"HEAD /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    get = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    async with door_in(State.CONNECTED) as (_door, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):  # the second time on a pooled connection
            writer.write(head + get)
            lengths = []
            for _answer in range(2):
                assert (await reader.readline()).startswith(b"HTTP/1.1 200 ")
                while (header := await reader.readline()) != b"\r\n":
                    name, _, value = header.decode().partition(":")
                    if name.lower() == "content-length":
                        lengths.append(int(value))
                if len(lengths) == 2:
                    body = json.loads(await reader.readexactly(lengths[1]))
            assert lengths[0] == lengths[1] + 1  # the server's, for its body {"method": "HEAD"...
            assert body["method"] == "GET"  # which was not sent: what follows is the GET's
        writer.close()


async def test_an_http_1_0_client_gets_its_answer_and_the_connection_closes() -> None:
    async with door_in(State.CONNECTED) as (_door, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /echo HTTP/1.0\r\n" + AUTH + b"\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)  # to the end: the door closed it
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nconnection: close\r\n" in answer.lower()
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["method"] == "GET"


@pytest.mark.parametrize("length", [True, False], ids=["with its length", "chunked"])
async def test_a_large_answer_on_a_kept_connection_reaches_the_client_whole(length: bool) -> None:
    """Too large to be read whole before it is sent on: it is relayed as it comes."""
    data = bytes(range(256)) * 8 * 1024  # 2 MiB

    async def large(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse()
        if length:
            answer.content_length = len(data)
        await answer.prepare(request)
        for start in range(0, len(data), 100_000):
            await answer.write(data[start : start + 100_000])
        await answer.write_eof()
        return answer

    get = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    async with serving(large) as server_port, door_before(server_port) as (_door, port):
        for _ in range(2):  # the second time on a pooled connection
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(get)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            if length:
                body = await reader.readexactly(len(data))
            else:
                assert b"transfer-encoding: chunked" in head.lower()
                body = b""
                while size := int((await reader.readline()).strip(), 16):
                    body += await reader.readexactly(size)
                    assert await reader.readexactly(2) == b"\r\n"
            writer.close()
            assert body == data


@pytest.mark.parametrize("where", ["screen", "response_headers"])
async def test_a_failure_in_the_door_answers_500_and_the_next_request_is_served(
    where: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug met while a request is taken (`Gate.screen`) or while its answer is read from the
    server's connection (`wire.response_headers`)."""
    get = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    async with door_in(State.CONNECTED) as (door, port):
        [(status, _)] = await exchange(port, get)  # a pooled connection at hand from now on

        def broken(*_args: object) -> None:
            raise RuntimeError("a bug")

        if where == "screen":
            monkeypatch.setattr(door.gate, where, broken)
        else:
            monkeypatch.setattr(f"tray.frontdoor.requests.{where}", broken)
        [(status, body)] = await exchange(port, get + get, answers=2)  # the connection closes
        assert (status, message(body)) == (500, "the front door failed: a bug")
        monkeypatch.undo()
        [(status, _)] = await exchange(port, get)
        assert status == 200
        assert door.stats().clients == 0
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in failures] == ["front door: GET /echo failed"]


async def test_a_rotation_cuts_off_a_request_in_flight_on_a_kept_connection() -> None:
    """Sent at once on a pooled connection, with the old password: the rotation ends it as it
    ends a held one."""
    asked, released = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        if "slow" in request.query:
            asked.set()
            await released.wait()
        return web.json_response({})

    get = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    slow_get = b"GET /echo?slow HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    async with serving(slow) as server_port, door_before(server_port) as (door, port):
        [(status, _)] = await exchange(port, get)  # a pooled connection at hand from now on
        assert status == 200
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(slow_get)
        await asyncio.wait_for(asked.wait(), 5)
        assert door.stats().clients == 1
        door.set_credentials(Credentials("opencode", "rotated-password"))
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, not answered
        writer.close()
        released.set()
        assert door.stats().clients == 0
        rotated = f"Authorization: {Credentials('opencode', 'rotated-password').basic()}\r\n"
        [(status, _)] = await exchange(port, slow_get.replace(AUTH, rotated.encode()))
        assert status == 200

"""The door's pool of connections to the server: a connection the server has closed is never
used again, even before the event loop has seen it close (a killed server's connections close
before anyone is told it died)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tray.frontdoor.upstream import UpstreamClient

pytestmark = pytest.mark.timeout(30)

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class KeepAliveServer:
    """Answers every request on a connection until told to close them all, on threads of its
    own, so that a close happens while the test's loop does not run."""

    def __init__(self, answer: bytes = ANSWER) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []  # every one accepted
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections.append(connection)
            self._open.append(connection)
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        data = b""
        while True:
            try:
                got = connection.recv(65536)
            except OSError:
                return
            if not got:
                return
            data += got
            while b"\r\n\r\n" in data:
                _head, _, data = data.partition(b"\r\n\r\n")
                connection.sendall(self.answer)

    def close_connections(self) -> None:
        while self._open:
            connection = self._open.pop()
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self.close_connections()
        self.listener.close()


async def ask(client: UpstreamClient, url: str, method: str) -> None:
    """One request answered "ok"; its connection given back."""
    body = b"{}" if method == "POST" else None
    headers = [(b"content-length", b"2")] if body else []
    answer = await client.request(url, method, "/", headers, body=body)
    assert await answer.read() == b"ok"
    answer.release()


async def test_a_connection_the_server_closed_is_not_used_again() -> None:
    server = KeepAliveServer()
    client = UpstreamClient(limit=0, keepalive_s=4.0, connect_timeout_s=5.0)
    url = f"http://127.0.0.1:{server.port}"
    try:
        await ask(client, url, "GET")
        await ask(client, url, "GET")
        assert len(server.connections) == 1  # kept alive and used again

        server.close_connections()
        time.sleep(0.1)  # noqa: ASYNC251 - the close arrives while the loop does not run
        await ask(client, url, "POST")
        assert len(server.connections) == 2
    finally:
        await client.close()
        server.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["Connection: close", "HTTP/1.0"],
)
async def test_a_connection_the_server_will_close_is_not_used_again(answer: bytes) -> None:
    """The server said it closes the connection after its answer (and has not yet): the next
    request would be cut off, and only a GET is sent again."""
    server = KeepAliveServer(answer)
    client = UpstreamClient(limit=0, keepalive_s=4.0, connect_timeout_s=5.0)
    url = f"http://127.0.0.1:{server.port}"
    try:
        await ask(client, url, "POST")
        await ask(client, url, "POST")
        assert len(server.connections) == 2
    finally:
        await client.close()
        server.close()

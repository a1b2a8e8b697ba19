"""One instance per user: the first one listens on a local socket; later launches and the
command line (`opencode-tray status`, `restart`, ...) hand it their arguments and print its reply.

The wire format is one JSON line each way: `{"argv": [...]}` in, `{"code": N, "output": "..."}`
out. The socket is user-only (QLocalServer.UserAccessOption) and lives in the user's runtime dir.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from tray.platform.identity import APP_NAME, WINDOWS_MUTEX
from tray.runtime.tasks import Tasks

MAX_REQUEST = 64 * 1024
CONNECT_TIMEOUT_MS = 1000
REPLY_TIMEOUT_MS = 15000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    code: int
    output: str


Handler = Callable[[list[str]], Awaitable[Reply]]


def server_name() -> str:
    """A per-user name: a socket path in the runtime dir (POSIX) or a pipe name (Windows)."""
    if sys.platform == "win32":
        return f"{APP_NAME}-{os.environ.get('USERNAME', 'user')}"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(runtime, f"{APP_NAME}-{os.getuid()}.sock")


def send(argv: list[str], name: str | None = None) -> Reply | None:
    """Hand `argv` to the running instance; None when no instance runs."""
    socket = _connect(name or server_name())
    if socket is None:
        return None
    socket.write(json.dumps({"argv": argv}).encode() + b"\n")
    socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    data = b""
    while b"\n" not in data:
        if not socket.waitForReadyRead(REPLY_TIMEOUT_MS):
            if socket.state() != QLocalSocket.LocalSocketState.ConnectedState and data:
                break
            return Reply(1, "the running opencode-tray did not answer in time")
        data += socket.readAll().data()
    socket.disconnectFromServer()
    try:
        reply = json.loads(data.split(b"\n", 1)[0])
        return Reply(int(reply["code"]), str(reply["output"]))
    except (ValueError, KeyError, TypeError):
        return Reply(1, f"unreadable reply from the running opencode-tray: {data[:200]!r}")


def _connect(name: str) -> QLocalSocket | None:
    if QCoreApplication.instance() is None:
        QCoreApplication([])
    socket = QLocalSocket()
    socket.connectToServer(name)
    return socket if socket.waitForConnected(CONNECT_TIMEOUT_MS) else None


class InstanceServer(QObject):
    """Listens for later launches and commands; `handler` answers each one."""

    def __init__(self, handler: Handler, name: str | None = None) -> None:
        super().__init__()
        self._handler = handler
        self._name = name or server_name()
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._answering = Tasks(None, _answer_failed)

    def listen(self) -> bool:
        """Start listening; False when another instance already does."""
        probe = _connect(self._name)
        if probe is not None:
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(self._name)  # a socket file a crashed run left behind
        if not self._server.listen(self._name):
            log.error("cannot listen on %s: %s", self._name, self._server.errorString())
            return False
        return True

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            buffer = bytearray()

            def read(socket: QLocalSocket = socket, buffer: bytearray = buffer) -> None:
                buffer.extend(socket.readAll().data())
                if b"\n" in buffer or len(buffer) > MAX_REQUEST:
                    socket.readyRead.disconnect()
                    self._answering.start(self._answer(socket, bytes(buffer)), "command")

            socket.readyRead.connect(read)

    async def _answer(self, socket: QLocalSocket, request: bytes) -> None:
        try:
            argv = json.loads(request.split(b"\n", 1)[0])["argv"]
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise TypeError("argv must be a list of strings")
        except (ValueError, KeyError, TypeError) as error:
            reply = Reply(2, f"bad request: {error}")
        else:
            try:
                reply = await self._handler(argv)
            except Exception as error:  # said to the command line, not left unanswered
                log.exception("the command %s from another instance failed", argv)
                reply = Reply(1, f"the app failed to run {' '.join(argv)}: {error}")
        with contextlib.suppress(RuntimeError):  # the client may be gone already
            socket.write(json.dumps({"code": reply.code, "output": reply.output}).encode() + b"\n")
            socket.flush()
            socket.disconnectFromServer()


def _answer_failed(error: BaseException, name: str) -> None:
    log.error("answering a %s from another instance failed", name, exc_info=error)


def hold_windows_mutex() -> None:
    """Windows: hold the named mutex the installer's AppMutex waits on, for the app's life."""
    if sys.platform == "win32":
        _mutexes.append(ctypes.windll.kernel32.CreateMutexW(None, False, WINDOWS_MUTEX))


_mutexes: list[int] = []

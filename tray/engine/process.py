"""The opencode server as a child process: spawn, read its output, wait, stop.

The server runs in its own process group (a job object on Windows) so that stopping it stops
what it started, and on Linux it gets SIGKILL when the app dies, so it cannot outlive the app.
The last output lines (stdout and stderr together) are kept for causes and diagnostics.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tray.engine import winjob
from tray.generations.generation import Generation
from tray.generations.v1 import V1

OUTPUT_LINES = 200
STDERR_LINES = 20
MAX_LINE = 64 * 1024

log = logging.getLogger(__name__)


def _die_with_parent(prctl: Callable[..., int], app_pid: int) -> None:
    """In the child, before exec (Linux): SIGKILL this process when the app dies.

    `prctl` is looked up before the fork (no dlopen in a forked child of a threaded app). An app
    that died between the fork and the prctl call sends no signal: exit at once then.
    """
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != app_pid:
        os._exit(1)


def _own_process_group() -> dict[str, Any]:
    """How the server starts in a process group of its own (on Linux, killed with the app)."""
    if sys.platform == "win32":
        return {"creationflags": winjob.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True, "preexec_fn": _linux_preexec()}


def _linux_preexec() -> Callable[[], None] | None:
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    return functools.partial(_die_with_parent, prctl, os.getpid())


class ServerProcess:
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        on_listening: Callable[[str], None],
        server: Generation = V1,
    ):
        self._proc = proc
        self._on_listening = on_listening
        self._server = server
        self.output: deque[str] = deque(maxlen=OUTPUT_LINES)
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(proc.stdout, "stdout")),
            asyncio.create_task(self._read(proc.stderr, "stderr")),
        ]

    @classmethod
    async def spawn(
        cls,
        binary: str,
        port: int,
        cwd: Path,
        env: Mapping[str, str],
        on_listening: Callable[[str], None],
        *,
        server: Generation = V1,
    ) -> ServerProcess:
        """Start a server that speaks `server` on `port`."""
        args = server.serve_args(binary, port)
        log.info("starting %s in %s", " ".join(args), cwd)
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            **_own_process_group(),
        )
        if sys.platform == "win32":
            winjob.kill_with_app(proc.pid)
        return cls(proc, on_listening, server)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def output_tail(self, lines: int = OUTPUT_LINES) -> tuple[str, ...]:
        """The last output lines, stdout and stderr interleaved, for diagnostics."""
        return tuple(self.output)[-lines:]

    def stderr_tail(self) -> tuple[str, ...]:
        """The last stderr lines, for the cause of an exit."""
        return tuple(self.stderr)

    async def wait(self) -> int:
        """Wait for the exit; give the output readers a moment to take the last lines."""
        code = await self._proc.wait()
        # Grandchildren (LSP, MCP servers) may hold the pipes open after the server is gone.
        _done, pending = await asyncio.wait(self._readers, timeout=0.5)
        for reader in pending:
            reader.cancel()
        return code

    async def terminate(self, grace_s: float) -> None:
        """SIGTERM to the group, then SIGKILL after `grace_s` (the server can ignore SIGTERM)."""
        if self._proc.returncode is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), grace_s)
        except TimeoutError:
            log.warning("server ignored SIGTERM for %.1f s: killing it", grace_s)
            self._signal_group(signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
        self._signal_group_leftovers()

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sys.platform == "win32":
                self._proc.terminate()  # TerminateProcess; the job object takes the children
            else:
                os.killpg(self._proc.pid, sig)

    def _signal_group_leftovers(self) -> None:
        """Children the server started (LSP, MCP) go with it."""
        if sys.platform != "win32":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    async def _read(self, stream: asyncio.StreamReader, name: str) -> None:
        pending = b""
        while chunk := await stream.read(MAX_LINE):
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > MAX_LINE:
                lines.append(pending)
                pending = b""
            for raw in lines:
                self._line(raw.decode("utf-8", "replace").rstrip("\r"), name)
        if pending:
            self._line(pending.decode("utf-8", "replace"), name)

    def _line(self, line: str, name: str) -> None:
        self.output.append(line)
        log.info("server %s: %s", name, line)
        if name == "stderr":
            self.stderr.append(line)
        else:
            url = self._server.listening(line)
            if url is not None:
                self._on_listening(url)

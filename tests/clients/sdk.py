"""The official JS SDK as a client: `sdk/sdk_client.mjs` run by node, driven over its stdin and
read from its stdout (one JSON line per event, SDK stream error, or command reply).

    async with SdkClient(target) as sdk:
        await sdk.wait_for(lambda line: line.get("type") == "server.connected")
        reply = await sdk.command("create", "a title")   # client.session.create
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.clients.target import Target

HERE = Path(__file__).resolve().parent / "sdk"
SCRIPT = HERE / "sdk_client.mjs"
PINNED = "1.19.3"

Line = dict[str, Any]


def sdk_missing() -> str | None:
    """Why the SDK cannot run here (`./dev test` installs it), or None."""
    if shutil.which("node") is None:
        return "node is not installed (./dev test installs it)"
    package = HERE / "node_modules" / "@opencode-ai" / "sdk" / "package.json"
    if not package.exists():
        return "the JS SDK is not installed in tests/clients/sdk (./dev test installs it)"
    version = json.loads(package.read_text())["version"]
    if version != PINNED:
        return f"the JS SDK in tests/clients/sdk is {version}, not the pinned {PINNED}"
    return None


def require_sdk() -> None:
    missing = sdk_missing()
    if missing:
        pytest.fail(missing)


class SdkClient:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.lines: list[Line] = []  # each with "at": time.monotonic() on arrival
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._ids = itertools.count(1)
        self.started_at = 0.0

    async def __aenter__(self) -> SdkClient:
        require_sdk()
        env = {**os.environ, "OPENCODE_SERVER_PASSWORD": self.target.password}
        env["OPENCODE_SERVER_USERNAME"] = self.target.username
        self.started_at = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            self.target.url,
            cwd=HERE,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._proc is not None
        assert self._reader is not None
        if self._proc.returncode is None:
            self._proc.kill()
        await self._proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    @property
    def exited(self) -> bool:
        return self._proc is not None and self._proc.returncode is not None

    def events(self, after: float = 0.0) -> list[Line]:
        return [line for line in self.lines if line["kind"] == "event" and line["at"] >= after]

    def errors(self, after: float = 0.0) -> list[Line]:
        return [line for line in self.lines if line["kind"] == "sse-error" and line["at"] >= after]

    def ended(self) -> bool:
        return any(line["kind"] in ("end", "fatal") for line in self.lines)

    def describe(self) -> str:
        tail = [line.get("type") or line["kind"] for line in self.lines[-8:]]
        return f"errors {[line['message'] for line in self.errors()]}, last: {tail}"

    async def wait_for(
        self, predicate: Callable[[Line], bool], within: float = 30.0, after: float = 0.0
    ) -> Line:
        deadline = time.monotonic() + within
        while True:
            for line in self.lines:
                if line["at"] >= after and predicate(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or self.exited:
                raise AssertionError(
                    f"the SDK never said that within {within:.0f} s: {self.describe()}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def command(self, verb: str, *args: str, within: float = 30.0) -> Line:
        """Run one SDK call (see sdk_client.mjs) and return its reply line."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        ident = str(next(self._ids))
        self._proc.stdin.write(" ".join([ident, verb, *args]).encode() + b"\n")
        await self._proc.stdin.drain()
        return await self.wait_for(
            lambda line: line["kind"] == "reply" and line["id"] == ident, within
        )

    async def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        async for raw in self._proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"kind": "output", "text": raw.decode(errors="replace").rstrip()}
            line["at"] = time.monotonic()
            self.lines.append(line)
            self._arrived.set()
        self._arrived.set()

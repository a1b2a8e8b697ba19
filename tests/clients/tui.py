"""The TUI as a client: `opencode attach URL` in a tmux pane of a tmux server of its own.

    async with TuiClient(binary, target, env, workdir) as tui:
        await tui.wait_screen("Ask anything")
        titles = await tui.session_list()         # what its /sessions dialog shows

The password reaches the TUI through the environment of the tmux server (inherited by the pane),
never through a command line. When `opencode attach` exits, the pane keeps its last words and a
line `TUI EXITED <code>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.clients.target import Target

EXITED = "TUI EXITED"
WIDTH, HEIGHT = 160, 45
STEP_S = 15.0  # for the TUI to show it took a key, on a loaded machine
DISMISS_TRIES = 10
# A dialog's title line ends with its close key, "esc", at the right.
DIALOG = re.compile(r"^ +\S.* {2,}esc *$", re.MULTILINE)


def require_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (./dev test installs it)")


class TuiClient:
    def __init__(self, binary: str, target: Target, env: dict[str, str], workdir: Path) -> None:
        self.binary = binary
        self.target = target
        self.env = {
            **env,
            "OPENCODE_SERVER_PASSWORD": target.password,
            "OPENCODE_SERVER_USERNAME": target.username,
        }
        self.workdir = workdir
        self.socket = f"tray-test-{uuid.uuid4().hex[:10]}"

    async def __aenter__(self) -> TuiClient:
        require_tmux()
        command = (
            f"{shlex.quote(self.binary)} attach {shlex.quote(self.target.url)}; "
            f"echo {EXITED} $?; sleep 3600"
        )
        await self._tmux(
            "new-session", "-d", "-s", "tui", "-x", str(WIDTH), "-y", str(HEIGHT), command
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            await self._tmux("kill-server")

    async def _tmux(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, *args,
            cwd=self.workdir, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, args, out, err)
        return out.decode(errors="replace")

    async def screen(self) -> str:
        return await self._tmux("capture-pane", "-p", "-t", "tui")

    async def exited(self) -> bool:
        return EXITED in await self.screen()

    async def keys(self, *keys: str) -> None:
        await self._tmux("send-keys", "-t", "tui", *keys)

    async def wait_screen(self, text: str, within: float = 30.0) -> str:
        """The screen, once it shows `text`; fails (with the screen) if the TUI exits first."""
        deadline = time.monotonic() + within
        while True:
            shown = await self.screen()
            if text in shown:
                return shown
            if EXITED in shown or time.monotonic() > deadline:
                raise AssertionError(f"the TUI never showed {text!r}; its screen:\n{shown}")
            await asyncio.sleep(0.2)

    async def session_list(self, expect: str, within: float = 30.0) -> str:
        """Open the /sessions dialog and return its screen once it lists `expect` (the dialog is
        closed again either way). Each step waits for the TUI to show it took the previous one:
        on a loaded machine an Enter typed before the command menu is up sends "/sessions" as a
        prompt instead."""
        deadline = time.monotonic() + within
        shown = ""
        await self.dismiss()
        while time.monotonic() < deadline:
            await self.keys("/sessions")
            try:
                await self.wait_screen("Switch session", STEP_S)
                await self.keys("Enter")
                await self.wait_screen("Search", STEP_S)
                return await self.wait_screen(expect, max(0.0, deadline - time.monotonic()))
            except AssertionError as error:
                shown = str(error)
                if EXITED in shown:
                    raise
            finally:
                await self.dismiss()
        raise AssertionError(f"the TUI's /sessions never listed {expect!r}: {shown}")

    async def dismiss(self) -> None:
        """Close the open dialog, then clear the prompt. Each Escape is given time alone: a key
        sent right after a lone Escape reads as Alt+key, and the dialog stays open (what typed
        "/sessions" into the Sessions dialog's filter)."""
        for _ in range(DISMISS_TRIES):
            if not DIALOG.search(await self.screen()):
                break
            await self.keys("Escape")
            await asyncio.sleep(0.5)
        await self.keys("C-u")  # whatever was typed into the prompt

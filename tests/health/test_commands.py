"""The health notices' buttons in the app: Abort ends the turn through the engine (a failure is
said in a message box), Update and restart runs the engine's update (offscreen, a fake engine)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

from tray.core import causes
from tray.core.notify_policy import Notice, NoticeButton
from tray.core.status import State
from tray.engine.api import ApiError
from tray.engine.engine import Engine
from tray.engine.password_source import PasswordSource
from tray.runtime.tasks import Tasks
from tray.shell.commands import AppCommands
from tray.shell.preferences import Preferences
from tray.ui.boxes import Boxes

STUCK = Notice(
    "stuck-ses_a",
    "opencode turn stuck",
    "…",
    State.CONNECTED,
    (NoticeButton.ABORT, NoticeButton.RESUME),
    session="ses_a",
)
UPDATE = Notice(
    "update-1.19.0",
    "opencode update available",
    "…",
    State.CONNECTED,
    (NoticeButton.UPDATE_AND_RESTART,),
    version="1.19.0",
)


class FakeEngine:
    def __init__(self, abort_fails: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self._abort_fails = abort_fails

    async def abort_session(self, session_id: str) -> None:
        self.calls.append(("abort", session_id))
        if self._abort_fails:
            raise ApiError(causes.connection_refused("http://127.0.0.1:4096"))

    async def update_server(self, version: str) -> None:
        self.calls.append(("update", version))


class FakeBoxes:
    def __init__(self) -> None:
        self.warned: list[str] = []

    def warn(self, text: str) -> None:
        self.warned.append(text)


def _commands(engine: FakeEngine, boxes: FakeBoxes, tasks: Tasks) -> AppCommands:
    return AppCommands(
        cast(Engine, engine),
        cast(Preferences, None),
        boxes=cast(Boxes, boxes),
        tasks=tasks,
        log_path=Path("opencode-tray.log"),
        quit=lambda: None,
        passwords=cast(PasswordSource, None),
        browser_url=lambda page: page,
    )


async def test_abort_and_update_reach_the_engine(qapp: object) -> None:
    engine, boxes = FakeEngine(), FakeBoxes()
    tasks = Tasks(asyncio.get_running_loop(), lambda error, name: None)
    commands = _commands(engine, boxes, tasks)
    commands.notice_button(STUCK, NoticeButton.ABORT)
    commands.notice_button(UPDATE, NoticeButton.UPDATE_AND_RESTART)
    await tasks.wait()
    assert engine.calls == [("abort", "ses_a"), ("update", "1.19.0")]
    assert boxes.warned == []


async def test_an_abort_that_fails_is_said(qapp: object) -> None:
    engine, boxes = FakeEngine(abort_fails=True), FakeBoxes()
    tasks = Tasks(asyncio.get_running_loop(), lambda error, name: None)
    _commands(engine, boxes, tasks).notice_button(STUCK, NoticeButton.ABORT)
    await tasks.wait()
    assert boxes.warned == ["Could not abort the turn: connection refused at http://127.0.0.1:4096"]


async def test_buttons_without_their_session_or_version_do_nothing(qapp: object) -> None:
    engine, boxes = FakeEngine(), FakeBoxes()
    tasks = Tasks(asyncio.get_running_loop(), lambda error, name: None)
    commands = _commands(engine, boxes, tasks)
    commands.notice_button(UPDATE, NoticeButton.ABORT)
    commands.notice_button(STUCK, NoticeButton.UPDATE_AND_RESTART)
    await tasks.wait()
    assert engine.calls == []

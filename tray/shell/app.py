"""The app: wires the engine, the views, notifications and the command line together.

Data flows one way: engine -> `EngineSnapshot` -> `_on_snapshot` -> the view model pushed to
the views, the notification loop and an open settings dialog. The views, the notifications'
buttons and the command line send the user's intents back through `AppCommands`, which asks the
engine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tray.core.notify_policy import NoticeAction
from tray.core.snapshot import EngineSnapshot
from tray.engine import server_password
from tray.engine.engine import Engine
from tray.engine.launch import ServerLaunch
from tray.engine.notices import NoticeLoop
from tray.engine.password_source import PasswordSource
from tray.platform import autostart, paths
from tray.runtime import logs
from tray.runtime.tasks import Tasks
from tray.shell import preferences
from tray.shell.command_line import CommandLine
from tray.shell.commands import AppCommands
from tray.shell.door_wiring import AppDoor
from tray.shell.instance import InstanceServer, hold_windows_mutex
from tray.shell.preferences import Preferences
from tray.shell.views import Views
from tray.ui.boxes import Boxes
from tray.ui.view_model import ViewModel

if TYPE_CHECKING:
    from tray.ui.notifier import Notifier

TRAY_WAIT_S = 60.0

log = logging.getLogger(__name__)


class App:
    def __init__(self, args: argparse.Namespace, settings_path: Path, log_path: Path) -> None:
        self._args = args
        loop = asyncio.get_running_loop()
        self._quit = loop.create_future()
        self.boxes = Boxes()
        self.errors = logs.ErrorReporter(self.boxes.warn)
        settings, self._warnings = preferences.load(settings_path)
        launch = ServerLaunch(
            settings,
            server_password.placeholder(),
            paths.state_dir(),
            binary_override=args.opencode,
        )
        self.engine = Engine(launch)
        self.front_door = AppDoor(self.engine)
        self._passwords = PasswordSource()
        self.preferences = Preferences(self.engine, settings_path, self.boxes.warn)
        tasks = Tasks(loop, lambda error, name: self.errors.report(error, f"the {name} task"))
        self._tasks = tasks
        self.commands = AppCommands(
            self.engine,
            self.preferences,
            boxes=self.boxes,
            tasks=tasks,
            log_path=log_path,
            quit=self.quit,
            passwords=self._passwords,
            browser_url=self.front_door.browser_url,
        )
        self.views = Views(self._view_model)
        self.command_line = CommandLine(
            self.engine, self.commands, self.views.show_window, self.front_door.stats
        )
        self.notifier: Notifier | None = None  # at the first notice (it may use the tray)
        self.notices = NoticeLoop(self.engine.status, self.engine.settings, self._post)
        self.instance = InstanceServer(self.command_line.handle)

    async def run(self) -> int:
        """Run until Quit; returns the process exit code."""
        if not self.instance.listen():
            log.error("another opencode-tray started at the same moment: leaving it the field")
            return 1
        hold_windows_mutex()
        self._start_server()
        autostart.refresh(autostart.launch_command())  # the app may have moved
        # At login the panel may come up after the app: the icon waits for it (the status window
        # stands in after TRAY_WAIT_S), nothing else does: the server's start (which waits for
        # the front door below) and a quit would have waited that minute too.
        waits = self._args.wait_for_tray or self._args.background
        views = self._tasks.start(self._show_views(TRAY_WAIT_S if waits else 0.0), "views")
        if not waits:
            await views  # the icon first: the front door's modules load after it
        self.engine.subscribe(self._on_snapshot)
        self.notices.start()
        for warning in self._warnings:
            self.boxes.warn(warning)
        await self.front_door.start(self.boxes.warn)
        await self._quit
        await self._close()
        return 0

    def _start_server(self) -> None:
        """Ask for the server's start, which waits for the keyring and the front door."""
        settings = self.engine.settings()
        # The keyring may ask the user (an unlock prompt) or hang: asked off the loop, and the
        # server's start waits for it, saying so, until it answers or the timeout runs out.
        timeout = settings.keyring_timeout_s
        self.engine.wait_for_password(timeout)
        # Asked for now, so that `status` says starting from the first answer on; the spawn
        # waits for the door to take the public port.
        self.front_door.claim()
        if settings.start_server_with_app:
            self.engine.start()
        self._tasks.start(self._passwords.obtain(timeout, self.commands.use_password), "keyring")

    async def _close(self) -> None:
        """At quit: stop the server, then everything else."""
        log.info("quitting: stopping the server")
        self.notices.close()
        self.instance.close()
        await self._tasks.cancel()
        await self._passwords.close()
        await self.engine.shutdown()
        await self.front_door.close()  # held requests got 503 and streams ended at the stop
        if self.notifier is not None:
            await self.notifier.aclose()
        self.views.hide()
        self.commands.close()

    async def _show_views(self, wait_for_tray_s: float) -> None:
        await self.views.show(self.commands, wait_for_tray_s)
        self.views.refresh()  # what changed while the icon came up

    def quit(self) -> None:
        if not self._quit.done():
            self._quit.set_result(None)

    def _view_model(self, snapshot: EngineSnapshot | None = None) -> ViewModel:
        """What the views show: `snapshot` (the engine now if None)."""
        snapshot = snapshot or self.engine.snapshot()
        return ViewModel(
            status=snapshot.status,
            recent_sessions=snapshot.recent_sessions,
            start_at_login=snapshot.settings.start_at_login,
        )

    def _on_snapshot(self, snapshot: EngineSnapshot) -> None:
        """A new status, new settings or new credentials: the views, an open settings dialog
        and the notices follow."""
        self.views.push(self._view_model(snapshot))
        self.preferences.server_may_have_restarted()
        self.notices.update(snapshot.status)

    def _post(self, actions: Sequence[NoticeAction]) -> None:
        if self.notifier is None:  # made at the first notice: most runs never show one
            from tray.ui.notifier import Notifier  # noqa: PLC0415 (its D-Bus stack weighs 2 MiB)

            commands = self.commands
            self.notifier = Notifier(
                commands.notice_clicked, commands.notice_button, self.views.tray_icon
            )
        self.notifier.post(actions)

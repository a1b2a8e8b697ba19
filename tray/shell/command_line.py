"""The running app's answers to the command line (`opencode-tray status`, `restart`, ...): each
command line another process hands over through the instance channel, carried out with the
same commands the menu uses."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from tray import __version__
from tray.cli import arguments
from tray.core import present, report
from tray.core.door.stats import DoorStats
from tray.engine.engine import Engine
from tray.shell.commands import AppCommands
from tray.shell.instance import Reply


class CommandLine:
    """`show_window()` is what a second start without a command does; `door_stats()` is the
    front door's counters (None: the door is off)."""

    def __init__(
        self,
        engine: Engine,
        commands: AppCommands,
        show_window: Callable[[], None],
        door_stats: Callable[[], DoorStats | None],
    ) -> None:
        self._engine = engine
        self._commands = commands
        self._show_window = show_window
        self._door_stats = door_stats

    async def handle(self, argv: list[str]) -> Reply:
        try:
            args = arguments.parse(argv)
        except (arguments.UsageError, SystemExit) as error:
            return Reply(2, str(error))
        commands = self._commands
        match args.command:
            case None:
                self._show_window()
                return Reply(0, "opencode-tray is already running: showing its window")
            case "status":
                return self.status(json_output=args.json)
            case "restart":
                commands.restart_server()
            case "stop":
                commands.stop_server()
            case "start":
                commands.start_server()
            case "resume":
                return await commands.resume_session(args.session)
            case "quit":
                commands.quit_soon()
            case "rotate-password":
                return await commands.rotate_password()
        return Reply(0, f"{args.command}: done")

    def status(self, json_output: bool) -> Reply:
        status = self._engine.status()
        code = report.exit_code(status)
        if json_output:
            data = report.status_json(
                status,
                self._engine.wall_time,
                __version__,
                os.getpid(),
                front_door=self._door_stats(),
            )
            return Reply(code, json.dumps(data, indent=2))
        return Reply(code, present.tooltip(status))

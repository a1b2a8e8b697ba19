"""The command line, a public contract (README documents it): keep it stable.

opencode-tray [--background] [--wait-for-tray] [--opencode PATH]   start the app
opencode-tray status [--json]          the running instance's state (exit 0 connected,
                                       1 otherwise, 3 when no instance runs)
opencode-tray restart|stop|start|quit  what the tray menu does
opencode-tray resume [SESSION_ID]      reopen a session (exit 1 when it cannot be)
opencode-tray rotate-password          new server password; other clients need the new one
opencode-tray install-menu-entry       add the app to the desktop's application menu (pip, pipx)
opencode-tray uninstall-menu-entry     take it away again
"""

from __future__ import annotations

import argparse

from tray import __version__
from tray.platform.identity import APP_NAME, BACKGROUND_ARG

COMMANDS = {
    "status": "print the running instance's state (--json for scripts)",
    "restart": "restart the opencode server",
    "stop": "stop the opencode server (the app keeps running)",
    "start": "start the opencode server",
    "resume": "reopen a session (default: the one active last) where you work",
    "quit": "stop the server and quit the app",
    "rotate-password": "make a new server password (in the keyring) and restart the server",
    "install-menu-entry": "add the app to the desktop's application menu (pip, pipx installs)",
    "uninstall-menu-entry": "remove what install-menu-entry added",
}
# Commands this process carries out itself (tray/platform/menu_entry.py); the others go to the
# running instance.
MENU_ENTRY_COMMANDS = ("install-menu-entry", "uninstall-menu-entry")


class UsageError(Exception):
    """Bad arguments; the message is argparse's, ready to print."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}\n{self.format_usage()}")


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog=APP_NAME, description="Keeps a local `opencode serve` alive and watched.")
    root.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    root.add_argument(BACKGROUND_ARG, action="store_true", help="start without opening a window")
    root.add_argument(
        "--wait-for-tray",
        action="store_true",
        help="wait up to 60 s for a system tray to appear (for starts at login)",
    )
    root.add_argument("--opencode", metavar="PATH", help="the opencode binary to use for this run")
    commands = root.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, text in COMMANDS.items():
        command = commands.add_parser(name, help=text, description=text)
        if name == "status":
            command.add_argument("--json", action="store_true", help="print JSON (see README)")
        if name == "resume":
            command.add_argument("session", nargs="?", help="a session id (ses_...)")
    return root


def parse(argv: list[str]) -> argparse.Namespace:
    return parser().parse_args(argv)

"""Entry point: `opencode-tray` (or `python -m tray`)."""

from __future__ import annotations

import json
import sys

from tray.cli import arguments, console
from tray.core.report import EXIT_NOT_RUNNING
from tray.engine import keyring_helper
from tray.runtime.pyside_sources import forget_sources


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [keyring_helper.FLAG]:  # the app asking the keyring, not a person
        return keyring_helper.serve(argv[1:])
    forget_sources()
    # A command only talks to the running app: Qt's network module is loaded here, not above.
    from tray.shell import instance  # noqa: PLC0415

    if console.wants_output(argv):
        console.attach_parent_console()  # Windows: the windowed program prints in the terminal
    try:
        args = arguments.parse(argv)
    except arguments.UsageError as error:
        console.attach_parent_console()
        print(error, file=sys.stderr)
        return 2
    if args.command is None:
        if console.is_console_twin():  # the app runs as the windowed program, not in a terminal
            return console.start_windowed(argv)
        # Only the app loads the app (widgets, the engine, ...): a command answers sooner.
        from tray.shell.startup import run_app  # noqa: PLC0415

        return run_app(args, argv)
    if args.command in arguments.MENU_ENTRY_COMMANDS:
        from tray.platform import menu_entry  # noqa: PLC0415

        return menu_entry.run(install=args.command == arguments.MENU_ENTRY_COMMANDS[0])
    reply = instance.send(argv)
    if reply is not None:
        return console.print_reply(reply)
    if args.command == "status" and args.json:
        print(json.dumps({"schema": 1, "state": "not_running"}))
    else:
        print("opencode-tray is not running", file=sys.stderr)
    return EXIT_NOT_RUNNING


if __name__ == "__main__":
    sys.exit(main())

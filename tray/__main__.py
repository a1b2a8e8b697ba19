"""Entry point: `opencode-tray` (or `python -m tray`)."""

from __future__ import annotations

import json
import sys

from tray import cli, instance
from tray.app import run_app
from tray.core.report import EXIT_NOT_RUNNING


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = cli.parse(argv)
    except cli.UsageError as error:
        print(error, file=sys.stderr)
        return 2
    reply = instance.send(argv)
    if reply is not None:  # an instance runs: it does the work, we print its answer
        print(reply.output, file=sys.stdout if reply.code in (0, 1) else sys.stderr)
        return reply.code
    if args.command is None:
        return run_app(args)
    if args.command == "status" and args.json:
        print(json.dumps({"schema": 1, "state": "not_running"}))
    else:
        print("opencode-tray is not running", file=sys.stderr)
    return EXIT_NOT_RUNNING


if __name__ == "__main__":
    sys.exit(main())

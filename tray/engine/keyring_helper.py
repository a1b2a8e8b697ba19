"""The keyring helper: each keyring call runs in a short-lived child process of the app.

A keyring may block its caller for as long as it shows an unlock prompt, or forever if its
backend hangs, and keyring's libraries weigh about 10 MiB that the idle app would otherwise hold
for good. So the app starts itself again as a helper (`opencode-tray --keyring-helper load` or
`rotate`; `python -m tray ...` from a checkout) for each call. The helper makes the call
(`tray.engine.keyring_store`), writes the answer as one JSON line on stdout (the password goes
through this pipe, never argv) and exits. Its log records travel in the answer, and the app logs
them under their own names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

from tray.engine.server_password import ServerPassword

FLAG = "--keyring-helper"
CALLS = ("load", "rotate")


class HelperFailed(Exception):
    """The helper crashed or answered something that is not an answer."""


def command(call: str) -> list[str]:
    """The command line that runs the helper for `call`: this program again."""
    if getattr(sys, "frozen", False):  # a PyInstaller build: the executable is the app
        return [sys.executable, FLAG, call]
    return [sys.executable, "-m", "tray", FLAG, call]


async def ask(call: str) -> ServerPassword:
    """Run the helper for `call` (one of CALLS) and relay its log; killed if cancelled."""
    helper = await asyncio.create_subprocess_exec(
        *command(call),
        stdin=subprocess.PIPE,  # never written: it ends when the app does (see `serve`)
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert helper.stdout is not None
    assert helper.stderr is not None
    assert helper.stdin is not None
    try:
        out, err = await asyncio.gather(helper.stdout.read(), helper.stderr.read())
        await helper.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            helper.kill()
        await helper.wait()
        raise
    finally:
        helper.stdin.close()
    if helper.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise HelperFailed(f"the keyring helper exited with {helper.returncode}: {last[0]}")
    return answer(out)


def answer(out: bytes) -> ServerPassword:
    """The helper's answer as a password, its log records logged here."""
    lines = out.strip().splitlines()  # the answer is the last line, whatever came before it
    try:
        said = json.loads(lines[-1] if lines else b"")
        found = ServerPassword(
            value=_typed(said["value"], str),
            persistent=_typed(said["persistent"], bool),
            warning=None if said["warning"] is None else _typed(said["warning"], str),
        )
        records = [(int(level), str(name), str(text)) for level, name, text in said["log"]]
    except (ValueError, KeyError, TypeError) as error:
        raise HelperFailed(f"the keyring helper's answer is not one: {error}") from None
    for level, name, text in records:
        logging.getLogger(name).log(level, "%s", text)
    return found


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{value!r} is not a {kind.__name__}")
    return value


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.name, record.getMessage()))


def serve(argv: list[str]) -> int:
    """The helper's side: make the call `argv` names, print the answer; the exit code."""
    if len(argv) != 1 or argv[0] not in CALLS:
        print(f"usage: {FLAG} {{{','.join(CALLS)}}}", file=sys.stderr)
        return 2
    # A keyring call may never return; the helper must not outlive the app (killed, say): its
    # stdin is a pipe from the app that ends when the app does.
    threading.Thread(target=_exit_at_end_of_input, name="app-watch", daemon=True).start()
    kept = _Keep()
    logging.getLogger().addHandler(kept)
    logging.getLogger().setLevel(logging.INFO)
    # Only the helper loads keyring and its backends: that is what it is for.
    from tray.engine import keyring_store  # noqa: PLC0415

    found = keyring_store.load_or_create() if argv[0] == "load" else keyring_store.rotate()
    said = {
        "value": found.value,
        "persistent": found.persistent,
        "warning": found.warning,
        "log": kept.records,
    }
    sys.stdout.write(json.dumps(said) + "\n")
    return 0


def _exit_at_end_of_input() -> None:
    # os.read, not sys.stdin: a daemon thread blocked in a buffered read makes the interpreter
    # abort at its normal exit ("could not acquire lock for <stdin>").
    while os.read(sys.stdin.fileno(), 4096):
        pass
    os._exit(3)

"""The command line's console on Windows, where the app is a windowed program with none.

Two ways in, both for `opencode-tray status` and the other commands typed in a terminal:
- the console twin: a console build of the same program (`opencode-tray-console.exe`), which the
  installer puts on PATH as `opencode-tray.com` beside `opencode-tray.exe`. A terminal finds it
  first (.COM comes before .EXE in PATHEXT), waits for it, shows its output and gets its exit
  code. Without a command it starts the windowed program and returns, so the app never holds a
  terminal (nor writes its login entry with a console program in it);
- the windowed program itself, given a command, attaches to its parent's console and prints
  there. A terminal does not wait for a windowed program, so its prompt may come back before the
  output does, and its exit code is lost: scripts use the twin.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from tray.cli.arguments import COMMANDS
from tray.platform.identity import APP_NAME

if TYPE_CHECKING:
    from tray.shell.instance import Reply

CONSOLE_TWIN = f"{APP_NAME}-console"  # what PyInstaller builds
CONSOLE_TWIN_INSTALLED = f"{APP_NAME}.com"  # what the installer names it
ATTACH_PARENT_PROCESS = -1
# Windows process creation flags: no console, and out of the terminal's Ctrl+C group.
DETACHED_PROCESS = 0x00000008
CREATE_NEW_PROCESS_GROUP = 0x00000200
_OUTPUT_ARGS = {"-h", "--help", "--version"}


class Kernel32(Protocol):
    def AttachConsole(self, process_id: int) -> int: ...


def print_reply(reply: Reply) -> int:
    """Print what the running instance answered; its code is ours."""
    print(reply.output, file=sys.stdout if reply.code in (0, 1) else sys.stderr)
    return reply.code


def wants_output(argv: list[str]) -> bool:
    """Whether `argv` asks for something printed (a command, help, the version), not the app."""
    return any(arg in COMMANDS or arg in _OUTPUT_ARGS for arg in argv)


def attach_parent_console() -> bool:
    """Print to the console of the process that started us, when we have no output of our own
    (a windowed program on Windows); True when attached."""
    if sys.stdout is not None and sys.stderr is not None:
        return False  # a console program, or output redirected: print there
    kernel32 = _kernel32()
    if kernel32 is None or not kernel32.AttachConsole(ATTACH_PARENT_PROCESS):
        return False  # not Windows; or started from Explorer, or by a parent without a console
    sys.stdout = _open_console("CONOUT$")
    sys.stderr = _open_console("CONOUT$")
    return True


def _kernel32() -> Kernel32 | None:
    if sys.platform != "win32":
        return None
    kernel32: Kernel32 = ctypes.WinDLL("kernel32")
    return kernel32


def _open_console(name: str) -> TextIO:
    return open(name, "w", encoding="utf-8", errors="replace", buffering=1)


def is_console_twin(executable: str | None = None, frozen: bool | None = None) -> bool:
    """Whether this process is the console twin (the frozen console build)."""
    name = Path(executable or sys.executable).name.lower()
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    return bool(frozen) and name in (f"{CONSOLE_TWIN}.exe", CONSOLE_TWIN_INSTALLED)


def windowed_program(twin: str | None = None) -> Path:
    """The windowed program beside the console twin."""
    return Path(twin or sys.executable).with_name(f"{APP_NAME}.exe")


def start_windowed(argv: list[str], twin: str | None = None) -> int:
    """Start the windowed program with `argv`, apart from this terminal; our exit code."""
    program = windowed_program(twin)
    try:
        subprocess.Popen(  # it runs on by itself: nothing to wait for
            [str(program), *argv],
            creationflags=DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
    except OSError as error:
        print(f"could not start {program}: {error}", file=sys.stderr)
        return 1
    return 0

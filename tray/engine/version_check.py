"""Ask an opencode binary for its version (`opencode --version`), for the settings' live check."""

from __future__ import annotations

import re
from pathlib import Path

from tray.core.causes import Cause, CauseKind
from tray.engine import binary
from tray.engine.one_shot import last_line, output_within, start_one_shot

_VERSION = re.compile(r"\bv?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)")
_SHOWN_STDERR = 300


class VersionCheckError(Exception):
    """The binary cannot be used; the message says why, in one line for the user."""


async def ask_version(path: str, timeout_s: float = 10) -> str:
    """The version `<path> --version` prints, e.g. "1.18.33".

    Raises VersionCheckError when the file is missing or not executable, when it does not answer
    within `timeout_s` seconds (it is then killed), or when it exits with an error or prints no
    version.
    """
    target = _executable(path)
    try:
        proc = await start_one_shot(str(target), "--version")
    except OSError as error:
        raise VersionCheckError(f"{path}: cannot be run ({error.strerror or error})") from error
    try:
        stdout, stderr = await output_within(proc, timeout_s)
    except TimeoutError:
        silent = f"{path} --version did not answer within {timeout_s:g} s"
        raise VersionCheckError(silent) from None
    output = stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        detail = _last_line(stderr.decode(errors="replace")) or _last_line(output)
        raise VersionCheckError(
            f"{path} --version exited with code {proc.returncode}"
            + (f": {detail}" if detail else "")
        )
    found = _VERSION.search(output)
    if found is None:
        raise VersionCheckError(f"{path} --version printed no version: {_last_line(output)!r}")
    return found.group(1)


async def check_binary(setting: str, timeout_s: float = 10) -> str:
    """The version of the binary the `opencode_path` setting selects; empty: as the engine finds
    it (`opencode` on PATH, else the project-local install). Raises VersionCheckError."""
    if setting:
        return await ask_version(setting, timeout_s)
    found = binary.locate(setting)
    if isinstance(found, Cause):
        raise VersionCheckError(found.text)
    return await ask_version(found, timeout_s)


def _executable(path: str) -> Path:
    target = Path(path).expanduser()
    checked = binary.check(target)
    if isinstance(checked, Cause):
        missing = checked.kind is CauseKind.BINARY_NOT_FOUND
        raise VersionCheckError(f"{path}: {'not found' if missing else 'not executable'}")
    return target


def _last_line(text: str) -> str:
    return last_line(text, _SHOWN_STDERR)

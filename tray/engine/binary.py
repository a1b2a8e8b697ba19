"""Find the opencode binary: the setting, else `opencode` on PATH, else the project-local one."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tray.core import causes
from tray.core.causes import Cause

_EXE = "opencode.cmd" if sys.platform == "win32" else "opencode"
# `./dev run` installs the pinned opencode-ai here, beside the package, when none is on PATH.
PROJECT_LOCAL = Path(__file__).resolve().parents[2] / ".opencode" / "node_modules" / ".bin" / _EXE


def locate(setting: str, project_local: Path = PROJECT_LOCAL) -> str | Cause:
    """The path to run, or the cause that says which paths were tried and what to do."""
    if setting:
        return check(Path(setting).expanduser())
    on_path = shutil.which("opencode")
    if on_path:
        return on_path
    if project_local.exists():
        return check(project_local)
    return causes.binary_not_found(["opencode on PATH", str(project_local)])


def check(path: Path) -> str | Cause:
    """`path` if it can run as the binary; else why not (missing, a folder, not executable)."""
    if not path.exists():
        return causes.binary_not_found([str(path)])
    if path.is_dir() or not os.access(path, os.X_OK):
        return causes.not_executable(str(path))
    return str(path)

"""Keep PySide6 from holding the source text of every module imported after it.

PySide6 replaces `__import__` and, for each module imported, looks for the string "PySide6" in
its source (to know whether `from __feature__ import ...` may apply to it); it asks
`inspect.getsource`, which leaves the whole file in `linecache` for the life of the process:
about 11 MiB of the idle app. The same question, asked of the file without keeping it, costs
nothing. `forget_sources` installs that answer; the entry point calls it before it imports Qt's
modules.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType


def _uses_pyside(module: ModuleType) -> bool:
    path = getattr(module, "__file__", None)
    try:
        return bool(path) and b"PySide6" in Path(str(path)).read_bytes()
    except OSError:  # no file (a frozen app, a built-in): as inspect.getsource would fail
        return False


def forget_sources() -> None:
    """Patch PySide6's import hook (installed when PySide6 is imported) to read no source into
    `linecache`."""
    import PySide6  # noqa: F401, PLC0415 (installs the import hook patched below)

    feature = sys.modules.get("shibokensupport.feature")
    if feature is not None and hasattr(feature, "_mod_uses_pyside"):
        setattr(feature, "_mod_uses_pyside", _uses_pyside)  # noqa: B010 (a module mypy cannot see)

"""The Qt shell that is not a view: the app's wiring, the single-instance channel, launching.

Importing it first keeps PySide6 from holding the source text of every module imported after
it. PySide6 replaces `__import__` and, for each module imported, looks for the string
"PySide6" in its source (to know whether `from __feature__ import ...` may apply to it); it
asks `inspect.getsource`, which leaves the whole file in `linecache` for the life of the
process: about 11 MiB of the idle app. The same question, asked of the file without keeping it,
costs nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import PySide6  # noqa: F401 (installs the import hook patched below)


def _uses_pyside(module: ModuleType) -> bool:
    path = getattr(module, "__file__", None)
    try:
        return bool(path) and b"PySide6" in Path(str(path)).read_bytes()
    except OSError:  # no file (a frozen app, a built-in): as inspect.getsource would fail
        return False


_feature = sys.modules.get("shibokensupport.feature")
if _feature is not None and hasattr(_feature, "_mod_uses_pyside"):
    setattr(_feature, "_mod_uses_pyside", _uses_pyside)  # noqa: B010 (a module mypy cannot see)

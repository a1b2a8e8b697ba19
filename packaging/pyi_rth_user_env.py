"""PyInstaller runtime hook: programs the frozen app starts get the user's environment.

The bootloader points LD_LIBRARY_PATH at the bundle and sets its own _PYI_* variables; every
program the app starts (the opencode server, xdg-open and the browser, a terminal) would
inherit them, and a system program would then load the bundle's glib, Qt or OpenSSL instead of
its own. The app itself no longer needs them once it runs: the dynamic loader read
LD_LIBRARY_PATH when the process started, and the bundled libraries carry their own search paths.

PySide6's runtime hook, which runs after this one, points QT_PLUGIN_PATH and QML2_IMPORT_PATH at
the bundle for good. Qt reads them while the application object starts, so only the app can put
them back afterwards: this hook keeps the user's values under NAME_ORIG (the bootloader's
convention for LD_LIBRARY_PATH), and the app restores NAME from NAME_ORIG, or drops it, once its
QApplication exists.
"""

import os


def _pyi_rthook() -> None:
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = original
    for name in [name for name in os.environ if name.startswith("_PYI_")]:
        del os.environ[name]
    for name in ("QT_PLUGIN_PATH", "QML2_IMPORT_PATH"):
        if name in os.environ:
            os.environ[f"{name}_ORIG"] = os.environ[name]
        else:
            os.environ.pop(f"{name}_ORIG", None)


_pyi_rthook()
del _pyi_rthook

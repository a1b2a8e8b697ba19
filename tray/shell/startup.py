"""Starting the app: become the single instance (or hand the command line to the one that
runs), set up logging and Qt, and run `App` on qasync until it quits."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtCore import QSocketNotifier
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from tray import __version__
from tray.cli.console import print_reply
from tray.platform import paths
from tray.platform.identity import DISPLAY_NAME
from tray.platform.resources import app_icon_path, restore_user_environment
from tray.runtime import collector, logs
from tray.shell.app import App
from tray.shell.instance import send

log = logging.getLogger(__name__)
EXIT_DISPLAY_GONE = 1


def _quit_on_signals(quit_app: Callable[[], None]) -> None:
    """SIGTERM and SIGINT quit cleanly (stopping the server), even while Qt's loop runs."""
    if sys.platform == "win32":
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(lambda: reader.recv(64))
    _keep.extend([reader, writer, notifier])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: quit_app())


_keep: list[object] = []


async def _main(args: argparse.Namespace, log_path: Path) -> int:
    """Run `App` until it quits, collecting garbage on this thread meanwhile."""
    collecting = asyncio.ensure_future(collector.collect_on_this_thread())
    try:
        app = App(args, paths.settings_file(), log_path)
        app.errors.install(asyncio.get_running_loop())
        _quit_on_signals(app.quit)
        return await app.run()
    finally:
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting


def run_app(args: argparse.Namespace, argv: list[str]) -> int:
    """Become the instance, or hand `argv` to the one that runs."""
    qapp = QApplication(sys.argv[:1])  # before anything else Qt: the probe below needs one
    restore_user_environment()  # Qt has read the bundle's paths: programs we start get the user's
    reply = send(argv)
    if reply is not None:
        return print_reply(reply)
    log_path = logs.setup(paths.log_dir())
    log.info("opencode-tray %s starting (pid %d)", __version__, os.getpid())
    qapp.setQuitOnLastWindowClosed(False)
    qapp.setApplicationName(DISPLAY_NAME)
    qapp.setWindowIcon(QIcon(str(app_icon_path())))
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    with loop:
        running = loop.create_task(_main(args, log_path))
        try:
            code: int = loop.run_until_complete(running)
        except RuntimeError:
            if running.done():
                raise
            # Qt ends its loop by itself when the display goes away (the X server died, or the
            # session ended without telling the app first): nothing runs on it any more. The
            # server goes with this process (Linux: PR_SET_PDEATHSIG; Windows: its job object);
            # elsewhere the next start stops the one left.
            log.error("the display went away (Qt's event loop ended): quitting")
            return EXIT_DISPLAY_GONE
    return code

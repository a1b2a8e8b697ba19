"""The app: wires the engine, the views, notifications and the command line together.

Data flows one way: engine -> `Status` -> `_on_status` -> views and notifications. Views, the
notifications' buttons and the command line send user intents back through the `Commands`
methods here, which ask the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QSocketNotifier, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from tray import __version__, autostart, cli, diagnostics, logs, paths, settings_file
from tray.core import present, report
from tray.core.causes import Cause
from tray.core.notify_policy import Notice, NoticeButton, NotifyPolicy
from tray.core.resume import Condition, SessionReport, attach_command, web_url
from tray.core.settings import ResumeTarget, Settings
from tray.core.status import Status
from tray.core.wake import WakeDetector
from tray.engine import password as passwords
from tray.engine.api import ApiError
from tray.engine.engine import Engine, ServerLaunch
from tray.identity import DISPLAY_NAME
from tray.resources import app_icon_path, restore_user_environment
from tray.shell import launcher
from tray.shell.instance import InstanceServer, Reply, hold_windows_mutex, send
from tray.ui.notifier import Notifier
from tray.ui.settings_dialog import SettingsDialog
from tray.ui.status_window import StatusWindow
from tray.ui.tray_icon import TrayIcon
from tray.ui.view_model import ViewModel

TRAY_WAIT_S = 60.0
TRAY_POLL_S = 0.5
WAKE_CHECK_S = 10.0

log = logging.getLogger(__name__)


class App:
    def __init__(self, args: argparse.Namespace, settings_path: Path, log_path: Path) -> None:
        self._args = args
        self._settings_path = settings_path
        self._log_path = log_path
        self._loop = asyncio.get_running_loop()
        self._quit = self._loop.create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self._boxes: set[QMessageBox] = set()
        loaded = settings_file.load(settings_path)
        # Whether the app starts at login is the OS's to say, not the file's.
        self.settings = replace(loaded.settings, start_at_login=autostart.is_enabled())
        self._server_settings = self.settings
        self._warnings = list(loaded.warnings)
        self._password = passwords.load_or_create()
        logs.secret_filter.secrets.add(self._password.value)
        if self._password.warning:
            self._warnings.append(self._password.warning)
        self.engine = Engine(
            ServerLaunch(
                self.settings, self._password, paths.state_dir(), binary_override=args.opencode
            )
        )
        self.tray: TrayIcon | None = None
        self.window = StatusWindow(self, self.view_model)
        self.dialog: SettingsDialog | None = None
        self.notifier: Notifier | None = None  # once the views exist: it may use the tray
        self._policy = NotifyPolicy()
        self._notify_timer: asyncio.TimerHandle | None = None
        self._wake = WakeDetector(time.monotonic(), time.time())
        self._wake_timer: asyncio.TimerHandle | None = None
        self.instance = InstanceServer(self.handle_command)
        self.errors = logs.ErrorReporter(self._show_message)

    # -- life -------------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until Quit; returns the process exit code."""
        if not self.instance.listen():
            log.error("another opencode-tray started at the same moment: leaving it the field")
            return 1
        hold_windows_mutex()
        autostart.refresh(autostart.launch_command())  # the app may have moved
        await self._show_views()
        self.notifier = Notifier(
            self._notice_clicked, self._notice_button, self.tray.icon if self.tray else None
        )
        self.engine.subscribe(self._on_status)
        self._check_wake()
        for warning in self._warnings:
            self._show_message(warning)
        if self.settings.start_server_with_app:
            self.engine.start()
        await self._quit
        log.info("quitting: stopping the server")
        for timer in (self._notify_timer, self._wake_timer):
            if timer is not None:
                timer.cancel()
        self.instance.close()
        await self.engine.shutdown()
        if self.notifier is not None:
            await self.notifier.aclose()
        if self.tray is not None:
            self.tray.hide()
        return 0

    async def _show_views(self) -> None:
        # At login the panel may come up after us.
        waits = self._args.wait_for_tray or self._args.background
        wait = TRAY_WAIT_S if waits else 0.0
        while not QSystemTrayIcon.isSystemTrayAvailable() and wait > 0:
            await asyncio.sleep(TRAY_POLL_S)
            wait -= TRAY_POLL_S
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = TrayIcon(self, self.view_model)
            self.tray.activated.connect(self.show_window)
            self.tray.show()
            log.info("tray icon shown")
        else:
            log.warning("no system tray available: showing the status window instead")
            self.window.stand_in_for_the_tray()
            self.show_window()

    def show_window(self) -> None:
        self.window.refresh()
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def view_model(self) -> ViewModel:
        return ViewModel(
            status=self.engine.status(),
            recent_sessions=self.engine.recent_sessions(),
            start_at_login=autostart.is_enabled(),
        )

    def _on_status(self, status: Status) -> None:
        if self.tray is not None:
            self.tray.refresh()
        if self.window.isVisible():
            self.window.refresh()
        self._notify(status)

    # -- notifications ----------------------------------------------------------------------------

    def _notify(self, status: Status | None = None) -> None:
        """Ask the policy what to show now; it may ask again later (the grace period)."""
        if self._notify_timer is not None:
            self._notify_timer.cancel()
            self._notify_timer = None
        status = status or self.engine.status()
        # Check for a wake now, not only on the timer: the wake must be known before the grace
        # period of the incident it caused runs out.
        self._wake.check(time.monotonic(), time.time())
        decision = self._policy.decide(status, self.settings, status.now, self._wake.woke_at)
        if decision.actions and self.notifier is not None:
            self.notifier.post(decision.actions)
        if decision.next_check_at is not None:
            self._notify_timer = self._loop.call_at(decision.next_check_at, self._notify)

    def _check_wake(self) -> None:
        if self._wake.check(time.monotonic(), time.time()):
            log.info("the machine woke from sleep")
        self._wake_timer = self._loop.call_later(WAKE_CHECK_S, self._check_wake)

    def _notice_clicked(self, notice: Notice) -> None:
        if notice.session:
            self.resume(notice.session)
        else:
            self.open_in_browser()

    def _notice_button(self, notice: Notice, button: NoticeButton) -> None:
        match button:
            case NoticeButton.RESTART_SERVER:
                self.restart_server()
            case NoticeButton.SHOW_LOG:
                self.open_log_folder()
            case NoticeButton.CONTINUE if notice.session:
                self.continue_session(notice.session)

    def _show_message(self, text: str) -> None:
        log.warning("told the user: %s", text)
        self._open_box(QMessageBox(QMessageBox.Icon.Warning, DISPLAY_NAME, text))

    def _open_box(self, box: QMessageBox) -> None:
        """Show `box` without blocking; it has no parent, so hold it until it closes."""
        self._boxes.add(box)
        box.finished.connect(lambda _result: self._boxes.discard(box))
        box.open()

    # -- commands (the menu, the status window, notifications, the command line) -----------------

    def restart_server(self) -> None:
        self._server_settings = self.settings
        self.engine.restart()

    def stop_server(self) -> None:
        self.engine.stop()

    def start_server(self) -> None:
        self._server_settings = self.settings
        self.engine.start()

    def resume_last(self) -> None:
        self._background(self._resume_reported(None), "resume")

    def resume(self, session_id: str) -> None:
        self._background(self._resume_reported(session_id), "resume")

    async def _resume_reported(self, session_id: str | None) -> None:
        reply = await self._resume(session_id)
        if reply.code:
            self._show_message(reply.output)

    async def _resume(self, session_id: str | None) -> Reply:
        """Reopen `session_id` (None: the last active one) where the user works.

        An interrupted session also gets the offer to continue its turn; only the user's click
        on Continue sends anything to the session."""
        status = self.engine.status()
        session_id = session_id or status.active_session
        if status.url is None:
            return Reply(1, "The server is not running: start it first.")
        if session_id is None:
            self.open_in_browser()
            return Reply(0, "No session yet: opened the session list.")
        try:
            found = await self.engine.session_report(session_id)
        except ApiError as error:
            return Reply(1, f"Could not look up session {session_id}: {error.cause.text}")
        if found.condition is Condition.GONE:
            self.open_in_browser()
            return Reply(
                1,
                f"Session {session_id} no longer exists (it was deleted): "
                "opened the session list instead.",
            )
        problem = await self._open_session(status.url, found)
        if problem:
            return Reply(1, problem)
        if found.condition is Condition.INTERRUPTED:
            self._offer_continue(found)
        where = self.settings.resume_target.value
        return Reply(0, f"Resumed {found.id} ({found.condition.label}) in the {where}.")

    async def _open_session(self, url: str, found: SessionReport) -> str | None:
        """Open the configured target at `found`; what went wrong, if anything."""
        username = self.engine.launch.username()
        try:
            if self.settings.resume_target is ResumeTarget.BROWSER:
                launcher.open_url(
                    web_url(url, username, self._password.value, found.directory, found.id)
                )
                return None
            binary = self.engine.binary()
            template = self.settings.terminal_command or launcher.default_terminal_template()
            if isinstance(binary, Cause):
                return f"Cannot open a terminal: {binary.text}"
            if template is None:
                return "Cannot open a terminal: none was found. Set a terminal command in Settings."
            argv = attach_command(template, binary, url, found.id, found.directory)
            await launcher.open_terminal(argv, self.engine.launch.env())
        except launcher.LaunchError as error:
            return str(error)
        return None

    def _offer_continue(self, found: SessionReport) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            DISPLAY_NAME,
            f"“{found.title or found.id}” was interrupted: the server stopped in the middle of "
            "a turn. Continue the turn?",
        )
        go = box.addButton("Continue", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(go)
        go.clicked.connect(lambda: self.continue_session(found.id))
        self._open_box(box)

    def continue_session(self, session_id: str) -> None:
        self._background(self._continue(session_id), "continue")

    async def _continue(self, session_id: str) -> None:
        try:
            await self.engine.continue_session(session_id)
        except ApiError as error:
            self._show_message(f"Could not continue the session: {error.cause.text}")

    def open_in_browser(self) -> None:
        url = self.engine.status().url
        if url is not None:
            username = self.engine.launch.username()
            web = web_url(url, username, self._password.value)
            try:
                launcher.open_url(web)
            except launcher.LaunchError as error:
                self._show_message(str(error))

    def copy_url(self) -> None:
        url = self.engine.status().url
        if url:
            QGuiApplication.clipboard().setText(url)

    def copy_password(self) -> None:
        QGuiApplication.clipboard().setText(self._password.value)

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._log_path.parent)))

    def copy_diagnostics(self) -> None:
        QGuiApplication.clipboard().setText(self.diagnostics())

    def diagnostics(self) -> str:
        return diagnostics.build(
            self.engine.status(),
            self.settings,
            self.engine.output_tail(),
            self.engine.wall_time,
            [self._password.value],
        )

    def open_settings(self) -> None:
        if self.dialog is None:
            self.dialog = SettingsDialog(self.settings, server_settings=self._server_settings)
            self.dialog.applied.connect(self.apply_settings)
            self.dialog.restart_requested.connect(self.restart_server)
            self.dialog.finished.connect(self._settings_closed)
            self.dialog.open()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def _settings_closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def apply_settings(self, settings: Settings) -> None:
        previous, self.settings = self.settings, settings
        try:
            settings_file.save(self._settings_path, settings)
        except OSError as error:
            self._show_message(f"Could not save the settings to {self._settings_path}: {error}")
        if settings.start_at_login != previous.start_at_login:
            self._write_autostart(settings.start_at_login)
        if self.engine.apply_settings(settings):
            log.info("settings applied; launch settings take effect at the next server restart")
        self._notify()

    def set_start_at_login(self, enabled: bool) -> None:
        self.apply_settings(replace(self.settings, start_at_login=enabled))

    def _write_autostart(self, enabled: bool) -> None:
        try:
            if enabled:
                autostart.enable(autostart.launch_command())
            else:
                autostart.disable()
        except OSError as error:
            self._show_message(f"Could not change start at login: {error}")

    def rotate_password(self) -> Reply:
        """A new server password: stored in the keyring, and the server restarted with it."""
        self._password = passwords.rotate()
        logs.secret_filter.secrets.add(self._password.value)
        self.engine.set_password(self._password)
        if self._password.warning:
            return Reply(1, self._password.warning)
        return Reply(0, "New server password stored in the keyring; the server is restarting.")

    def quit(self) -> None:
        if not self._quit.done():
            self._quit.set_result(None)

    def _background(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = self._loop.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.errors.report(error, f"the {task.get_name()} task")

    # -- the command line -------------------------------------------------------------------------

    async def handle_command(self, argv: list[str]) -> Reply:
        try:
            args = cli.parse(argv)
        except (cli.UsageError, SystemExit) as error:
            return Reply(2, str(error))
        match args.command:
            case None:
                self.show_window()
                return Reply(0, "opencode-tray is already running: showing its window")
            case "status":
                return self._status_reply(json_output=args.json)
            case "restart":
                self.restart_server()
            case "stop":
                self.stop_server()
            case "start":
                self.start_server()
            case "resume":
                return await self._resume(args.session)
            case "quit":
                self._loop.call_soon(self.quit)
            case "rotate-password":
                return self.rotate_password()
        return Reply(0, f"{args.command}: done")

    def _status_reply(self, json_output: bool) -> Reply:
        status = self.engine.status()
        code = report.exit_code(status)
        if json_output:
            data = report.status_json(status, self.engine.wall_time, __version__, os.getpid())
            return Reply(code, json.dumps(data, indent=2))
        return Reply(code, present.tooltip(status))


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


def print_reply(reply: Reply) -> int:
    """Print what the running instance answered; its code is ours."""
    print(reply.output, file=sys.stdout if reply.code in (0, 1) else sys.stderr)
    return reply.code


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

    async def main() -> int:
        app = App(args, paths.settings_file(), log_path)
        app.errors.install(asyncio.get_running_loop())
        _quit_on_signals(app.quit)
        return await app.run()

    with loop:
        code: int = loop.run_until_complete(main())
    return code

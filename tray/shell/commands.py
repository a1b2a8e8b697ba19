"""What the user can ask for, in one place: the menu, the status window, the notifications'
clicks and buttons, and the command line all call these.

Decisions live in the core (`tray.core.resume` for resuming); this module carries them out with
the engine, the desktop (browser, terminal, clipboard) and message boxes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

from tray.core.notify_policy import Notice, NoticeButton
from tray.core.resume import (
    ResumeStep,
    SessionReport,
    resume_found,
    resume_lookup_failed,
    resume_start,
    terminal_command,
)
from tray.core.settings import ResumeTarget
from tray.engine.api import ApiError
from tray.engine.engine import Engine
from tray.engine.password_source import PasswordSource
from tray.engine.server_password import ServerPassword
from tray.generations.v1 import V1
from tray.platform import diagnostics
from tray.runtime import logs
from tray.runtime.tasks import Tasks
from tray.shell import launcher
from tray.shell.instance import REPLY_TIMEOUT_MS, Reply
from tray.shell.preferences import Preferences
from tray.ui.boxes import Boxes
from tray.ui.clipboard import SecretClipboard

if TYPE_CHECKING:
    from tray.ui.connect_window import ConnectDetails, ConnectWindow

log = logging.getLogger(__name__)


class AppCommands:
    """Implements `tray.ui.view_model.Commands`; `quit()` ends the app."""

    def __init__(
        self,
        engine: Engine,
        preferences: Preferences,
        *,
        boxes: Boxes,
        tasks: Tasks,
        log_path: Path,
        quit: Callable[[], None],
        passwords: PasswordSource,
        browser_url: Callable[[str], str],
    ) -> None:
        self._engine = engine
        self._browser_url = browser_url
        self._connect_window: ConnectWindow | None = None
        self._passwords = passwords
        self._clipboard = SecretClipboard()  # forgets the password after 30 s
        self._preferences = preferences
        self._boxes = boxes
        self._tasks = tasks
        self._log_path = log_path
        self.quit = quit

    # -- the server ------------------------------------------------------------------------------

    def restart_server(self) -> None:
        self._engine.restart()

    def stop_server(self) -> None:
        self._engine.stop()

    def start_server(self) -> None:
        self._engine.start()

    def use_password(self, password: ServerPassword, late: bool) -> None:
        """The keyring's answer (`PasswordSource`): the password for a start held back for it, or
        (`late`) for the server's next start; why it is for this run only is shown once."""
        logs.secret_filter.hide(self._engine.snapshot().credentials.username, password.value)
        self._engine.set_password(password, restart=False)
        if password.warning and not late:
            self._boxes.warn(password.warning)

    async def rotate_password(self) -> Reply:
        """A new server password: stored in the keyring, and the server restarted with it."""
        # The command line waits REPLY_TIMEOUT_MS for the answer: answer well within it.
        timeout = min(self._preferences.settings.keyring_timeout_s, REPLY_TIMEOUT_MS / 1000 - 5)
        password = await self._passwords.rotate(timeout, self.use_password)
        if password is None:
            return Reply(
                1,
                f"The keyring did not answer within {timeout:.0f} s: the password is unchanged. "
                "If the keyring stores the new one later, the server uses it from its next start.",
            )
        logs.secret_filter.hide(self._engine.snapshot().credentials.username, password.value)
        self._engine.set_password(password)
        if password.warning:
            return Reply(1, password.warning)
        if self._engine.snapshot().public_url is not None:
            return Reply(
                0,
                "New server password stored in the keyring; clients signed in with the old one "
                "were disconnected (the server keeps running behind the front door).",
            )
        return Reply(0, "New server password stored in the keyring; the server is restarting.")

    # -- sessions --------------------------------------------------------------------------------

    def resume_last(self) -> None:
        self._tasks.start(self._resume_told(None), "resume")

    def resume(self, session_id: str) -> None:
        self._tasks.start(self._resume_told(session_id), "resume")

    async def _resume_told(self, session_id: str | None) -> None:
        reply = await self.resume_session(session_id)
        if reply.code:
            self._boxes.warn(reply.output)

    async def resume_session(self, session_id: str | None) -> Reply:
        """Reopen `session_id` (None: the one last worked in) where the user works."""
        status = self._engine.status()
        session_id = session_id or status.last_worked_in
        step = resume_start(status.url, session_id)
        if step is None and status.url is not None and session_id is not None:
            try:
                found = await self._engine.session_report(session_id)
            except ApiError as error:
                step = resume_lookup_failed(session_id, error.cause.text)
            else:
                step = resume_found(found, self._preferences.settings.resume_target.value)
        assert step is not None
        return await self._carry_out(step, status.url)

    async def _carry_out(self, step: ResumeStep, url: str | None) -> Reply:
        if step.open_list:
            self.open_in_browser()
        if step.session is not None and url is not None:
            problem = await self._open_session(url, step.session)
            if problem:
                return Reply(1, problem)
        if step.offer_continue and step.session is not None:
            found = step.session
            self._boxes.ask(
                f"“{found.title or found.id}” was interrupted: the server stopped in the middle "
                "of a turn. Continue the turn?",
                "Continue",
                "Not now",
                lambda: self.continue_session(found.id),
            )
        return Reply(step.code, step.message)

    async def _open_session(self, url: str, found: SessionReport) -> str | None:
        """Open the configured target at `found`; what went wrong, if anything."""
        settings = self._preferences.settings
        try:
            if settings.resume_target is ResumeTarget.BROWSER:
                launcher.open_url(self._web(url, found))
                return None
            template = settings.terminal_command or launcher.default_terminal_template()
            argv = terminal_command(template, self._engine.binary(), url, found)
            if isinstance(argv, str):
                return argv
            await launcher.open_terminal(argv, self._engine.client_env())
        except launcher.LaunchError as error:
            return str(error)
        return None

    def continue_session(self, session_id: str) -> None:
        told = self._warn_on_failure(
            self._engine.continue_session(session_id), "Could not continue the session"
        )
        self._tasks.start(told, "continue")

    def abort_session(self, session_id: str) -> None:
        """End a stuck session's turn (the user clicked Abort)."""
        told = self._warn_on_failure(
            self._engine.abort_session(session_id), "Could not abort the turn"
        )
        self._tasks.start(told, "abort")

    async def _warn_on_failure(self, request: Awaitable[None], failed: str) -> None:
        """Await a request to the server; when it fails, tell the user `failed` and why."""
        try:
            await request
        except ApiError as error:
            self._boxes.warn(f"{failed}: {error.cause.text}")

    def update_server(self, version: str) -> None:
        """Run opencode's own update; the server restarts onto it when no session is busy."""
        self._tasks.start(self._engine.update_server(version), "update")

    # -- the desktop -----------------------------------------------------------------------------

    def open_in_browser(self) -> None:
        url = self._engine.status().url
        if url is not None:
            try:
                launcher.open_url(self._web(url))
            except launcher.LaunchError as error:
                self._boxes.warn(str(error))

    def _web(self, url: str, found: SessionReport | None = None) -> str:
        """The URL for the browser: behind the front door a one-time sign-in (no password in the
        browser's command line or history); without it the page's own, and the browser will ask
        for the username and password, which the user is told."""
        credentials = self._engine.snapshot().credentials
        where = (found.directory, found.id) if found is not None else ("", "")
        page = V1.web_url(url, credentials.username, credentials.password, *where)
        signed_in = self._browser_url(page)
        if signed_in == page:
            self._boxes.ask(
                "The front door is off (Settings), so the browser may ask you to sign in: the "
                f"username is “{credentials.username}” and the password is the server's "
                "(Copy password puts it on the clipboard for 30 s).",
                "Copy password",
                "Close",
                self.copy_password,
            )
        return signed_in

    def copy_url(self) -> None:
        url = self._engine.status().url
        if url:
            QGuiApplication.clipboard().setText(url)

    def copy_password(self) -> None:
        self._clipboard.copy(self._engine.snapshot().credentials.password)

    def connect_client(self) -> None:
        """The Connect a client… window, made on first use and kept (it follows the URL and a
        rotated password each time it is shown)."""
        from tray.ui.connect_window import ConnectActions, ConnectWindow  # noqa: PLC0415 (rare)

        if self._connect_window is None:
            actions = ConnectActions(
                copy=QGuiApplication.clipboard().setText,
                copy_secret=self._clipboard.copy,
                open_in_browser=self.open_in_browser,
            )
            self._connect_window = ConnectWindow(self._connect_details(), actions)
        else:
            self._connect_window.show_details(self._connect_details())
        self._connect_window.show()
        self._connect_window.raise_()
        self._connect_window.activateWindow()

    def _connect_details(self) -> ConnectDetails:
        from tray.ui.connect_window import ConnectDetails  # noqa: PLC0415 (rare)

        snapshot = self._engine.snapshot()
        return ConnectDetails(
            url=snapshot.status.url or snapshot.public_url or "",
            username=snapshot.credentials.username,
            password=lambda: self._engine.snapshot().credentials.password,
            browser_signs_in=snapshot.public_url is not None,
        )

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._log_path.parent)))

    def copy_diagnostics(self) -> None:
        QGuiApplication.clipboard().setText(self.diagnostics())

    def diagnostics(self) -> str:
        engine = self._engine
        snapshot = engine.snapshot()
        return diagnostics.build(
            snapshot.status,
            snapshot.settings,
            engine.output_tail(),
            engine.wall_time,
            [snapshot.credentials.password],
        )

    # -- settings --------------------------------------------------------------------------------

    def open_settings(self) -> None:
        self._preferences.open_dialog()

    def set_start_at_login(self, enabled: bool) -> None:
        self._preferences.set_start_at_login(enabled)

    # -- the notifications' clicks and buttons ----------------------------------------------------

    def notice_clicked(self, notice: Notice) -> None:
        if notice.session:
            self.resume(notice.session)
        else:
            self.open_in_browser()

    def notice_button(self, notice: Notice, button: NoticeButton) -> None:
        match button:
            case NoticeButton.RESTART_SERVER:
                self.restart_server()
            case NoticeButton.SHOW_LOG:
                self.open_log_folder()
            case NoticeButton.CONTINUE if notice.session:
                self.continue_session(notice.session)
            case NoticeButton.ABORT if notice.session:
                self.abort_session(notice.session)
            case NoticeButton.RESUME if notice.session:
                self.resume(notice.session)
            case NoticeButton.UPDATE_AND_RESTART if notice.version:
                self.update_server(notice.version)

    def close(self) -> None:
        """At quit: a password copied in the last 30 s leaves the clipboard with the app."""
        self._clipboard.forget()

    def quit_soon(self) -> None:
        """Quit once the current callback (say, answering the command line) has returned."""
        asyncio.get_running_loop().call_soon(self.quit)

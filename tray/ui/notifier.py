"""Shows the notification policy's notices as desktop notifications.

One notification per notice key, replaced in place while the key stays the same. On Linux and
the BSDs `tray.ui.freedesktop` talks to the notification daemon over D-Bus (on the qasync loop)
and replaces by id; on Windows and macOS desktop-notifier does the work (WinRT,
UserNotifications), and a notification sent again with the same identifier replaces the one
shown. A click on a notice and its buttons come back as the app's plain callbacks.

When desktop-notifier fails (no session bus, no notification daemon, an unbundled macOS app)
the notifier says so once in the log and from then on uses the tray icon's own messages, whose
click comes back through `messageClicked` (for the newest notice; there are no buttons there).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QSystemTrayIcon

from tray.core.notice_pacing import NoticePacing
from tray.core.notify_policy import (
    CloseNotice,
    Notice,
    NoticeAction,
    NoticeButton,
    ShowNotice,
)
from tray.core.status import State
from tray.platform.identity import DISPLAY_NAME
from tray.platform.resources import icon_path
from tray.runtime.tasks import Tasks
from tray.ui.freedesktop import FreedesktopNotifications

if TYPE_CHECKING:
    from tray.ui.platform_notifications import PlatformNotifications

log = logging.getLogger(__name__)

# A notification daemon that does not answer within this long counts as absent.
SEND_TIMEOUT_S = 5.0
BALLOON_MS = 10_000
# Where the freedesktop.org notification service is the desktop's own.
FREEDESKTOP = sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd"))


class Notifier:
    """Shows notices; `on_clicked(notice)` and `on_button(notice, button)` run on the loop when
    the user clicks one (the app resumes `notice.session`, restarts the server, shows the log).

    The D-Bus connection opens at the first notice and reads DBUS_SESSION_BUS_ADDRESS then.
    """

    def __init__(
        self,
        on_clicked: Callable[[Notice], None],
        on_button: Callable[[Notice, NoticeButton], None],
        tray: QSystemTrayIcon | None = None,
    ) -> None:
        self._on_clicked = on_clicked
        self._on_button = on_button
        self._tray = tray
        self._desktop: FreedesktopNotifications | PlatformNotifications | None
        if FREEDESKTOP:
            self._desktop = FreedesktopNotifications(
                DISPLAY_NAME, _icon_path, self._clicked, self._button
            )
        else:
            # Only Windows and macOS load desktop-notifier (1 MiB that Linux would hold idle).
            from tray.ui.platform_notifications import PlatformNotifications  # noqa: PLC0415

            self._desktop = PlatformNotifications(self._clicked, self._button)
        self._balloon: Notice | None = None  # the tray icon's newest message
        self._lock = asyncio.Lock()
        self._pending = Tasks(None, _notifying_failed)
        self._pacing = NoticePacing()  # when the daemon took each notice
        if tray is not None:
            tray.messageClicked.connect(self._on_balloon_clicked)

    @property
    def uses_fallback(self) -> bool:
        """True once desktop notifications failed and the tray icon's messages took over."""
        return self._desktop is None

    async def apply(self, actions: Iterable[NoticeAction]) -> None:
        """Carry out a decision's actions, in order and after any earlier ones."""
        async with self._lock:
            for action in actions:
                await self._shown_long_enough(action.key)
                if isinstance(action, ShowNotice):
                    await self._show(action.notice)
                    self._pacing.shown(action.key, asyncio.get_running_loop().time())
                elif isinstance(action, CloseNotice):
                    await self._close(action.key)
                    self._pacing.closed(action.key)

    async def _shown_long_enough(self, key: str) -> None:
        """Wait until the notice with `key` may change (`NoticePacing`). The policy already
        spaces its changes so; this keeps that true on screen when a notice took longer than
        the next to reach the daemon."""
        free_at = self._pacing.free_at(key)
        if free_at is None:
            return
        loop = asyncio.get_running_loop()
        # Qt's timers behind qasync may fire a few milliseconds early: sleep until it is true.
        # Not a poll (what ASYNC110 warns of): each turn sleeps exactly what is left.
        while (left := free_at - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)

    def post(self, actions: Iterable[NoticeAction]) -> asyncio.Task[None] | None:
        """`apply` from synchronous code, such as a Qt slot: runs on the loop, in order. The
        task is there to await if wanted; failures are logged either way."""
        todo = tuple(actions)
        if not todo:
            return None
        return self._pending.start(self.apply(todo), "notify")

    async def aclose(self) -> None:
        """Finish posted work and take down the notifications still shown: their buttons would
        reach nobody once the app is gone."""
        await self._pending.wait()
        if self._desktop is not None:
            await self.apply(CloseNotice(key) for key in self._desktop.shown_keys())
            await self._desktop.aclose(SEND_TIMEOUT_S)
        self._balloon = None

    # -- desktop notifications -------------------------------------------------------------------

    async def _show(self, notice: Notice) -> None:
        """Shows `notice`, then logs it: the log says what the user was told, and when."""
        if not await self._show_on_desktop(notice):
            self._show_balloon(notice)
        log.info("Notified: %s: %s", notice.title, notice.body.replace("\n", " / "))

    async def _show_on_desktop(self, notice: Notice) -> bool:
        """True once the notification service took `notice`; False where there is none."""
        desktop = self._desktop
        if desktop is None:
            return False
        try:
            await asyncio.wait_for(desktop.show(notice), SEND_TIMEOUT_S)
        except Exception as error:  # any failure means: no usable notification service
            self._desktop = None
            await desktop.aclose(SEND_TIMEOUT_S)
            where = "the tray icon's messages" if self._tray else "the log only"
            log.warning("Desktop notifications unavailable (%r); using %s", error, where)
            return False
        return True

    async def _close(self, key: str) -> None:
        if self._desktop is not None:
            await self._desktop.close(key)
        elif self._balloon is not None and self._balloon.key == key:
            self._balloon = None

    def _clicked(self, notice: Notice) -> None:
        self._call(self._on_clicked, notice)

    def _button(self, notice: Notice, button: NoticeButton) -> None:
        self._call(self._on_button, notice, button)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("A notification callback failed")

    # -- the tray icon's messages ----------------------------------------------------------------

    def _show_balloon(self, notice: Notice) -> None:
        if self._tray is None:
            return
        self._balloon = notice
        self._tray.showMessage(notice.title, notice.body, _balloon_icon(notice), BALLOON_MS)

    def _on_balloon_clicked(self) -> None:
        if self._desktop is None and self._balloon is not None:
            self._call(self._on_clicked, self._balloon)


def _notifying_failed(error: BaseException, _name: str) -> None:
    log.error("Notifying failed", exc_info=error)


def _icon_path(notice: Notice) -> Path | None:
    path = icon_path(notice.state.value)
    return path if path.is_file() else None


def _balloon_icon(notice: Notice) -> QSystemTrayIcon.MessageIcon:
    if notice.critical:
        return QSystemTrayIcon.MessageIcon.Critical
    if notice.state is State.CONNECTED:
        return QSystemTrayIcon.MessageIcon.Information
    return QSystemTrayIcon.MessageIcon.Warning

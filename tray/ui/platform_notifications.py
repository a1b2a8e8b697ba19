"""Notifications on Windows and macOS, through desktop-notifier (Linux and the BSDs use the
freedesktop.org service directly: `tray.ui.freedesktop`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from desktop_notifier import Button, DesktopNotifier, Icon, Notification, Urgency

from tray.core.notify_policy import Notice, NoticeButton
from tray.platform.identity import DISPLAY_NAME
from tray.platform.resources import app_icon_path, icon_path


class PlatformNotifications:
    """desktop-notifier on Windows and macOS: one identifier per notice key, so that a notice
    sent again replaces the one shown (a toast's tag, a notification request's identifier).

    Clicks come through the notifier-wide handlers, by identifier, to the notice shown under it
    now: a replaced toast's own events may drop desktop-notifier's record of its successor."""

    def __init__(
        self,
        on_clicked: Callable[[Notice], None],
        on_button: Callable[[Notice, NoticeButton], None],
    ) -> None:
        self._on_clicked = on_clicked
        self._on_button = on_button
        self._notifier = DesktopNotifier(app_name=DISPLAY_NAME, app_icon=_icon(app_icon_path()))
        self._notifier.on_clicked = self._clicked
        self._notifier.on_button_pressed = self._pressed
        self._identifiers: dict[str, str] = {}  # notice key -> notification identifier
        self._shown: dict[str, Notice] = {}  # notification identifier -> the notice it shows

    def shown_keys(self) -> list[str]:
        return list(self._identifiers)

    async def show(self, notice: Notice) -> None:
        # The dummy backend of an unsupported platform has no capabilities at all.
        if not await self._notifier.get_capabilities():
            raise RuntimeError("no notification service on this platform")
        dispatched: list[bool] = []
        notification = Notification(
            title=notice.title,
            message=notice.body,
            urgency=Urgency.Critical if notice.critical else Urgency.Normal,
            icon=_icon(icon_path(notice.state.value)),
            buttons=tuple(
                Button(title=button.label, identifier=button.value) for button in notice.buttons
            ),
            on_dispatched=lambda: dispatched.append(True),
            identifier=self._identifiers.get(notice.key) or str(uuid.uuid4()),
        )
        # send_notification logs and swallows errors: only on_dispatched tells success.
        await self._notifier.send_notification(notification)
        if not dispatched:
            raise RuntimeError("the notification service did not take the notification")
        self._identifiers[notice.key] = notification.identifier
        self._shown[notification.identifier] = notice

    async def close(self, key: str) -> None:
        """Take down the notification shown for `key`, unless the user or a timeout did."""
        identifier = self._identifiers.pop(key, None)
        self._shown.pop(identifier or "", None)
        if (
            identifier is not None
            and identifier in await self._notifier.get_current_notifications()
        ):
            await self._notifier.clear(identifier)

    async def aclose(self, timeout_s: float) -> None:
        self._identifiers.clear()
        self._shown.clear()

    def _clicked(self, identifier: str) -> None:
        notice = self._shown.get(identifier)
        if notice is not None:
            self._on_clicked(notice)

    def _pressed(self, identifier: str, button_id: str) -> None:
        notice = self._shown.get(identifier)
        button = next((b for b in notice.buttons if b.value == button_id), None) if notice else None
        if notice is not None and button is not None:
            self._on_button(notice, button)


def _icon(path: Path) -> Icon | None:
    return Icon(path=path) if path.is_file() else None

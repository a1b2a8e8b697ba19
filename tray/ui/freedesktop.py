"""Desktop notifications on Linux and the BSDs: the freedesktop.org notification service over
D-Bus (dbus-fast, on the running asyncio loop, so on qasync).

One notification per notice key, replaced in place: a notice with a key already shown goes out
with the shown notification's id as `replaces_id`, so the daemon updates it where it is and it
keeps its id (desktop-notifier always sends 0 there, hence this module). A click and the buttons
come back as `on_clicked(notice)` and `on_button(notice, button)` with the notice shown then.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import Callable
from pathlib import Path

from dbus_fast import Variant
from dbus_fast.aio import MessageBus, ProxyInterface
from dbus_fast.errors import DBusError

from tray.core.notify_policy import Notice, NoticeButton

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
DEFAULT_ACTION = "default"  # the spec's key for a click on the notification itself
_URGENCY_NORMAL, _URGENCY_CRITICAL = 1, 2


class FreedesktopNotifications:
    """The notifications this app shows through the session bus's notification daemon.

    Connects at the first `show` (DBUS_SESSION_BUS_ADDRESS is read then) and raises when there
    is no bus or no daemon on it."""

    def __init__(
        self,
        app_name: str,
        icon_for: Callable[[Notice], Path | None],
        on_clicked: Callable[[Notice], None],
        on_button: Callable[[Notice, NoticeButton], None],
    ) -> None:
        self._app_name = app_name
        self._icon_for = icon_for
        self._on_clicked = on_clicked
        self._on_button = on_button
        self._bus: MessageBus | None = None
        self._daemon: ProxyInterface | None = None
        self._ids: dict[str, int] = {}  # notice key -> the daemon's notification id
        self._shown: dict[int, Notice] = {}  # notification id -> the notice it shows now

    def shown_keys(self) -> list[str]:
        return list(self._ids)

    async def show(self, notice: Notice) -> None:
        daemon = await self._connect()
        actions = [DEFAULT_ACTION, ""]
        for button in notice.buttons:
            actions += [button.value, button.label]
        icon = self._icon_for(notice)
        urgency = _URGENCY_CRITICAL if notice.critical else _URGENCY_NORMAL
        replaces = self._ids.get(notice.key, 0)
        notification_id: int = await daemon.call_notify(  # type: ignore[attr-defined]
            self._app_name,
            replaces,
            icon.as_uri() if icon is not None else "",
            notice.title,
            html.escape(notice.body, quote=False),  # the body is markup: keep '<' and '&'
            actions,
            {"urgency": Variant("y", urgency)},
            -1,  # the daemon's own timeout for this urgency
        )
        if replaces and replaces != notification_id:  # a daemon that gave it a new id
            self._shown.pop(replaces, None)
        self._ids[notice.key] = notification_id
        self._shown[notification_id] = notice

    async def close(self, key: str) -> None:
        """Take down the notification shown for `key`, unless the user or a timeout did."""
        notification_id = self._ids.pop(key, None)
        if notification_id is None or self._daemon is None:
            return
        self._shown.pop(notification_id, None)
        with contextlib.suppress(DBusError):  # closed by the user a moment ago
            await self._daemon.call_close_notification(notification_id)  # type: ignore[attr-defined]

    async def aclose(self, timeout_s: float) -> None:
        """Close the D-Bus connection (the notifications stay: `close` takes those down)."""
        bus, self._bus, self._daemon = self._bus, None, None
        self._ids.clear()
        self._shown.clear()
        if bus is not None and bus.connected:
            bus.disconnect()
            with contextlib.suppress(Exception):
                waiting = bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
                await asyncio.wait_for(waiting, timeout_s)

    async def _connect(self) -> ProxyInterface:
        if self._daemon is not None:
            return self._daemon
        bus = await MessageBus().connect()
        try:
            introspection = await bus.introspect(NAME, PATH)
            daemon = bus.get_proxy_object(NAME, PATH, introspection).get_interface(NAME)
            daemon.on_action_invoked(self._action_invoked)  # type: ignore[attr-defined]
            daemon.on_notification_closed(self._closed)  # type: ignore[attr-defined]
        except BaseException:
            bus.disconnect()
            raise
        self._bus, self._daemon = bus, daemon
        return daemon

    def _action_invoked(self, notification_id: int, action: str) -> None:
        notice = self._shown.get(notification_id)
        if notice is None:  # another app's, or one taken down meanwhile
            return
        if action == DEFAULT_ACTION:
            self._on_clicked(notice)
            return
        button = next((b for b in notice.buttons if b.value == action), None)
        if button is not None:
            self._on_button(notice, button)

    def _closed(self, notification_id: int, reason: int) -> None:
        notice = self._shown.pop(notification_id, None)
        if notice is not None and self._ids.get(notice.key) == notification_id:
            del self._ids[notice.key]

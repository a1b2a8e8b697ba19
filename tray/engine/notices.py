"""The notification loop: runs `NotifyPolicy` and `WakeDetector` on asyncio timers, the way
`Engine` runs `Supervisor`, and hands each decision's notices to a sink (the notifier).

Feed it every published `Status`; it asks the policy again when the policy says (the grace
period) and checks the clocks for a wake from sleep every `WAKE_CHECK_S`. Nothing here knows
about Qt or the desktop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from tray.core.notify_policy import NoticeAction, NotifyPolicy, NotifySettings
from tray.core.status import Status
from tray.core.wake import WakeDetector

WAKE_CHECK_S = 10.0

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[NoticeAction]], object]


class NoticeLoop:
    """`status()` is the status now, `settings()` the settings in effect; `sink` gets the
    actions of each decision that has any."""

    def __init__(
        self,
        status: Callable[[], Status],
        settings: Callable[[], NotifySettings],
        sink: Sink,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._status = status
        self._settings = settings
        self._sink = sink
        self._policy = NotifyPolicy()
        self._wake = WakeDetector(time.monotonic(), time.time())
        self._decide_timer: asyncio.Handle | None = None
        self._wake_timer: asyncio.Handle | None = None

    def start(self) -> None:
        """Begin checking for wakes from sleep."""
        self._check_wake()

    def update(self, status: Status | None = None) -> None:
        """Ask the policy what to show now (`status`, or the status now if None)."""
        if self._decide_timer is not None:
            self._decide_timer.cancel()
            self._decide_timer = None
        status = status or self._status()
        # Check for a wake now, not only on the timer: the wake must be known before the grace
        # period of the incident it caused runs out.
        self._wake.check(time.monotonic(), time.time())
        decision = self._policy.decide(status, self._settings(), status.now, self._wake.woke_at)
        if decision.actions:
            self._sink(decision.actions)
        if decision.next_check_at is not None:
            self._decide_timer = self._loop.call_at(decision.next_check_at, self.update)

    def close(self) -> None:
        for timer in (self._decide_timer, self._wake_timer):
            if timer is not None:
                timer.cancel()

    def _check_wake(self) -> None:
        if self._wake.check(time.monotonic(), time.time()):
            log.info("the machine woke from sleep")
        self._wake_timer = self._loop.call_later(WAKE_CHECK_S, self._check_wake)

"""When to tell the user about an incident: pure decisions about desktop notifications.

Feed `NotifyPolicy.decide` every new `Status` (and again at `next_check_at`, for the grace
timer) with the settings, the monotonic time and the time of the last wake from sleep. It
answers with notices to show or close; a notice with the key of one already shown replaces it.

One notice per incident, replaced while it goes on and once more when it recovers. Nothing for
a stop by the user, for a blip shorter than the grace period, or for an incident that starts
just after a wake from sleep; giving up is shown at once, whatever else holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from tray.core.causes import Cause, CauseKind
from tray.core.present import duration
from tray.core.status import Incident, State, Status

# Incidents that start this long after a wake from sleep are the sleep's doing: never shown.
WAKE_QUIET_S = 15.0

# Causes after which the server's log says more than the cause does.
_LOG_WORTH_READING = {
    CauseKind.EXITED,
    CauseKind.KILLED_BY_SIGNAL,
    CauseKind.STARTUP_TIMEOUT,
    CauseKind.SERVER_HUNG,
    CauseKind.CRASH_LOOP,
}

_TITLES = {
    State.STARTING: "opencode server restarting",
    State.RECONNECTING: "opencode connection lost",
    State.STALLED: "opencode server not responding",
    State.CRASHED: "opencode server down",
    State.FAILED: "opencode server gave up",
}
RECOVERED_TITLE = "opencode server back"


class NotifySettings(Protocol):
    """The part of `tray.settings.Settings` that this policy reads."""

    @property
    def notification_grace_s(self) -> float: ...
    @property
    def notify_incidents(self) -> bool: ...
    @property
    def notify_recovered(self) -> bool: ...


class NoticeButton(Enum):
    RESTART_SERVER = "restart-server"
    SHOW_LOG = "show-log"

    @property
    def label(self) -> str:
        return "Restart server" if self is NoticeButton.RESTART_SERVER else "Show log"


@dataclass(frozen=True)
class Notice:
    """One desktop notification. A click on it means "resume `session`" (or open the list)."""

    key: str  # one per incident: a notice with the same key replaces the one shown
    title: str
    body: str
    state: State  # what the server is doing; CONNECTED for "recovered"
    buttons: tuple[NoticeButton, ...] = ()
    session: str | None = None  # the session that was active when the incident began
    critical: bool = False


@dataclass(frozen=True)
class ShowNotice:
    notice: Notice


@dataclass(frozen=True)
class CloseNotice:
    key: str


NoticeAction = ShowNotice | CloseNotice


@dataclass(frozen=True)
class NotifyDecision:
    actions: tuple[NoticeAction, ...]
    next_check_at: float | None  # call `decide` again then, even without a new status


@dataclass
class _Tracked:
    """The open incident the policy follows, and what it has shown for it."""

    incident: Incident
    key: str
    session: str | None
    after_wake: bool = False
    shown: tuple[object, ...] | None = None  # what the shown notice was made from


def incident_key(incident: Incident) -> str:
    return f"incident-{incident.opened_at!r}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _retry(verb: str, status: Status, now: float) -> str:
    attempt = f" (attempt {status.attempt})" if status.attempt else ""
    if status.next_retry_at is None:
        return f"{verb}{attempt}"
    return f"{verb} in {duration(max(0.0, status.next_retry_at - now))}{attempt}"


def _what_we_do(status: Status, now: float) -> str:
    if status.state is State.FAILED:
        return "Restart from the menu when it is fixed."
    if status.state is State.CRASHED:
        return _retry("Restarting", status, now)
    if status.state in (State.RECONNECTING, State.STALLED):
        return _retry("Reconnecting", status, now)
    return "Starting the server again"


def _buttons(state: State, cause: Cause) -> tuple[NoticeButton, ...]:
    if state is State.FAILED or cause.kind in _LOG_WORTH_READING:
        return (NoticeButton.RESTART_SERVER, NoticeButton.SHOW_LOG)
    return (NoticeButton.RESTART_SERVER,)


def _incident_notice(tracked: _Tracked, status: Status, now: float) -> Notice:
    cause = status.cause or tracked.incident.cause
    return Notice(
        key=tracked.key,
        title=_TITLES.get(status.state, _TITLES[State.STARTING]),
        body=f"{_sentence(cause.text)}\n{_what_we_do(status, now)}",
        state=status.state,
        buttons=_buttons(status.state, cause),
        session=tracked.session,
        critical=status.state is State.FAILED,
    )


def _recovered_notice(tracked: _Tracked, closed: Incident, now: float) -> Notice:
    took = duration(closed.duration(now))
    return Notice(
        key=tracked.key,
        title=RECOVERED_TITLE,
        body=f"Reconnected after {took}\nIt was: {closed.cause.text}",
        state=State.CONNECTED,
        session=tracked.session,
    )


class NotifyPolicy:
    """Follows the incidents in successive statuses and decides what the user sees of them."""

    def __init__(self) -> None:
        self._tracked: _Tracked | None = None

    def decide(
        self, status: Status, settings: NotifySettings, now: float, woke_at: float | None
    ) -> NotifyDecision:
        actions: list[NoticeAction] = []
        current = status.open_incident if status.state is not State.STOPPED else None
        tracked = self._tracked
        if tracked is not None and (
            current is None or current.opened_at != tracked.incident.opened_at
        ):
            actions += self._finish(tracked, status, settings)
            tracked = self._tracked = None
        if current is None:
            return NotifyDecision(tuple(actions), None)
        if tracked is None:
            tracked = self._tracked = _Tracked(
                current, incident_key(current), status.active_session
            )
        tracked.incident = current
        tracked.after_wake = tracked.after_wake or _starts_after_wake(current, settings, woke_at)
        action, next_check_at = self._follow(tracked, status, settings, now)
        if action is not None:
            actions.append(action)
        return NotifyDecision(tuple(actions), next_check_at)

    def _follow(
        self, tracked: _Tracked, status: Status, settings: NotifySettings, now: float
    ) -> tuple[NoticeAction | None, float | None]:
        failed = status.state is State.FAILED
        wanted = settings.notify_incidents and (
            failed or tracked.shown is not None or not tracked.after_wake
        )
        if not wanted:
            if tracked.shown is None:
                return None, None
            tracked.shown = None
            return CloseNotice(tracked.key), None
        due_at = tracked.incident.opened_at + settings.notification_grace_s
        if tracked.shown is None and not failed and now < due_at:
            return None, due_at
        made_from = (status.state, status.cause, status.attempt, status.next_retry_at)
        if made_from == tracked.shown:
            return None, None
        tracked.shown = made_from
        return ShowNotice(_incident_notice(tracked, status, now)), None

    def _finish(
        self, tracked: _Tracked, status: Status, settings: NotifySettings
    ) -> list[NoticeAction]:
        if tracked.shown is None:
            return []
        closed = next(
            (i for i in status.incidents if i.opened_at == tracked.incident.opened_at), None
        )
        if closed is not None and closed.recovered and settings.notify_recovered:
            return [ShowNotice(_recovered_notice(tracked, closed, status.now))]
        return [CloseNotice(tracked.key)]


def _starts_after_wake(incident: Incident, settings: NotifySettings, woke_at: float | None) -> bool:
    """Whether the incident began within the quiet period after a wake. A wake is often noticed
    just after the broken connection it caused, so an incident still within its grace period
    when the wake is noticed counts too."""
    if woke_at is None:
        return False
    return woke_at - settings.notification_grace_s <= incident.opened_at < woke_at + WAKE_QUIET_S

"""When to tell the user about an incident: pure decisions about desktop notifications.

Feed `NotifyPolicy.decide` every new `Status` (and again at `next_check_at`, for the grace
timer) with the settings, the monotonic time and the time of the last wake from sleep. It
answers with notices to show or close; a notice with the key of one already shown replaces it.

One notice per incident, replaced while it goes on and once more when it recovers. Nothing for
a stop by the user, for a blip shorter than the grace period, or for an incident that starts
just after a wake from sleep; giving up is shown at once, whatever else holds.

A notice stays at least `MIN_SHOWN_S` before anything replaces or closes it: a change that comes
sooner waits (and `next_check_at` asks for it), and a newer one for the same notice takes its
place. The attempts a notice counts are the incident's own, as the status gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from tray.core.causes import Cause, CauseKind
from tray.core.notice_pacing import NoticePacing
from tray.core.present import capitalized, duration, memory_limit_too_low, retry
from tray.core.resume import Condition, SessionReport
from tray.core.server_health import (
    MemoryLimitTooLowNotice,
    Notices,
    StuckNotice,
    Unstuck,
    UpdateNotice,
)
from tray.core.server_health import Notice as HealthNotice
from tray.core.status import Incident, State, Status

# Incidents that start this long after a wake from sleep are the sleep's doing: never shown.
WAKE_QUIET_S = 15.0

# Causes after which the server's log says more than the cause does.
_LOG_WORTH_READING = {
    CauseKind.EXITED,
    CauseKind.KILLED_BY_SIGNAL,
    CauseKind.STARTUP_TIMEOUT,
    CauseKind.SERVER_HUNG,
    CauseKind.REQUESTS_HANG,
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
SESSION_TITLE = "opencode session"
STUCK_TITLE = "opencode turn stuck"
UPDATE_TITLE = "opencode update available"
MEMORY_LIMIT_TITLE = "opencode memory limit too low"
MEMORY_LIMIT_KEY = "memory-limit-too-low"


class NotifySettings(Protocol):
    """The part of `tray.core.settings.Settings` that this policy reads."""

    @property
    def notify_session_finished(self) -> bool: ...

    @property
    def notification_grace_s(self) -> float: ...
    @property
    def notify_incidents(self) -> bool: ...
    @property
    def notify_recovered(self) -> bool: ...


class NoticeButton(Enum):
    RESTART_SERVER = "restart-server"
    SHOW_LOG = "show-log"
    CONTINUE = "continue"  # send "continue" to the interrupted session
    ABORT = "abort"  # end the stuck session's turn
    RESUME = "resume"  # open the stuck session
    UPDATE_AND_RESTART = "update-and-restart"  # run opencode's update to `Notice.version`

    @property
    def label(self) -> str:
        return _BUTTON_LABELS[self]


_BUTTON_LABELS = {
    NoticeButton.RESTART_SERVER: "Restart server",
    NoticeButton.SHOW_LOG: "Show log",
    NoticeButton.CONTINUE: "Continue",
    NoticeButton.ABORT: "Abort",
    NoticeButton.RESUME: "Resume",
    NoticeButton.UPDATE_AND_RESTART: "Update and restart",
}


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
    version: str | None = None  # the version "Update and restart" installs


@dataclass(frozen=True)
class ShowNotice:
    notice: Notice

    @property
    def key(self) -> str:
        return self.notice.key


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


def _what_we_do(status: Status, now: float) -> str:
    """What the app does about it."""
    if status.state is State.FAILED:
        return "Restart from the menu when it is fixed."
    if status.state is State.CRASHED:
        return retry("Restarting", status, now)
    if status.state in (State.RECONNECTING, State.STALLED):
        return retry("Reconnecting", status, now)
    return "Starting the server again"


def _buttons(state: State, cause: Cause) -> tuple[NoticeButton, ...]:
    if state is State.FAILED or cause.kind in _LOG_WORTH_READING:
        return (NoticeButton.RESTART_SERVER, NoticeButton.SHOW_LOG)
    return (NoticeButton.RESTART_SERVER,)


def _incident_notice(tracked: _Tracked, status: Status, now: float) -> Notice:
    cause = status.cause or tracked.incident.cause
    doing = _what_we_do(status, now)
    return Notice(
        key=tracked.key,
        title=_TITLES.get(status.state, _TITLES[State.STARTING]),
        body=f"{capitalized(cause.text)}\n{doing}",
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


def _session_notice(key: str, report: SessionReport, finished: bool) -> Notice | None:
    """What the user should hear about the active session after a gap, if anything."""
    name = f"“{report.title or report.id}”"
    if report.condition is Condition.INTERRUPTED:
        body = f"{name} was interrupted mid-turn.\nClick to resume it, or Continue the turn."
        buttons: tuple[NoticeButton, ...] = (NoticeButton.CONTINUE,)
    elif report.needs_answer:
        waiting = [
            f"{n} {word}{'s' if n > 1 else ''}"
            for n, word in (
                (report.pending_permissions, "permission request"),
                (report.pending_questions, "question"),
            )
            if n
        ]
        body = f"{name} is waiting for your answer ({', '.join(waiting)}).\nClick to resume it."
        buttons = ()
    elif finished and report.condition is Condition.IDLE:
        body = f"{name} finished while the connection was down.\nClick to resume it."
        buttons = ()
    elif report.condition is Condition.GONE:
        body = f"The session you were in ({report.id}) was deleted."
        return Notice(key, SESSION_TITLE, body, State.CONNECTED)
    else:
        return None
    return Notice(key, SESSION_TITLE, body, State.CONNECTED, buttons, session=report.id)


def _health_action(notice: HealthNotice, status: Status) -> NoticeAction:
    """A stuck turn (Abort, Resume; closed when it goes on), an announced update, or a memory
    limit too low to restart for."""
    if isinstance(notice, MemoryLimitTooLowNotice):
        body = memory_limit_too_low(notice.limit_mb, notice.needed_mb)
        return ShowNotice(Notice(MEMORY_LIMIT_KEY, MEMORY_LIMIT_TITLE, body, status.state))
    if isinstance(notice, Unstuck):
        return CloseNotice(f"stuck-{notice.session_id}")
    if isinstance(notice, StuckNotice):
        session = notice.turn.session_id
        silent = duration(notice.turn.silent_for(status.now))
        body = (
            f"Session {session} has been busy for {silent} with no sign of progress.\n"
            "Abort ends its turn; Resume opens it. Nothing is aborted unless you click."
        )
        buttons = (NoticeButton.ABORT, NoticeButton.RESUME)
        return ShowNotice(
            Notice(f"stuck-{session}", STUCK_TITLE, body, status.state, buttons, session)
        )
    assert isinstance(notice, UpdateNotice)
    running = f" (the server runs {status.version})" if status.version else ""
    body = (
        f"opencode {notice.version} is available{running}.\n"
        "Update and restart installs it the way opencode was installed, then restarts the "
        "server when no session is busy."
    )
    return ShowNotice(
        Notice(
            f"update-{notice.version}",
            UPDATE_TITLE,
            body,
            status.state,
            (NoticeButton.UPDATE_AND_RESTART,),
            version=notice.version,
        )
    )


class NotifyPolicy:
    """Follows the incidents in successive statuses and decides what the user sees of them."""

    def __init__(self) -> None:
        self._tracked: _Tracked | None = None
        self._last_key: str | None = None  # the last incident's notice, for session news
        self._session_seen: SessionReport | None = None
        self._busy_before: frozenset[str] = frozenset()
        self._pacing = NoticePacing()
        self._held: dict[str, NoticeAction] = {}  # what waits for MIN_SHOWN_S, by key
        self._health = Notices()  # stuck turns, updates, a limit too low: one notice each

    def decide(
        self, status: Status, settings: NotifySettings, now: float, woke_at: float | None
    ) -> NotifyDecision:
        released = [self._held.pop(k) for k in list(self._held) if self._pacing.is_free(k, now)]
        decision = self._decide_incident(status, settings, now, woke_at)
        news = self._session_news(status, settings)
        health = [_health_action(n, status) for n in self._health.new(status.health)]
        wanted = (
            *released,
            *decision.actions,
            *(() if news is None else (ShowNotice(news),)),
            *health,
        )
        actions = tuple(action for action in wanted if self._pace(action, now))
        held_until = [self._pacing.free_at(key) for key in self._held]
        checks = [t for t in (decision.next_check_at, *held_until) if t is not None]
        return NotifyDecision(actions, min(checks) if checks else None)

    def _pace(self, action: NoticeAction, now: float) -> bool:
        """True to carry `action` out now; False when it waits for its notice's minimum time
        on screen (taking the place of anything that waited for the same notice)."""
        key = action.key
        if not self._pacing.is_free(key, now):
            self._held[key] = action
            return False
        self._held.pop(key, None)
        if isinstance(action, ShowNotice):
            self._pacing.shown(key, now)
        else:
            self._pacing.closed(key)
        self._pacing.forget_free(now, keep=key)
        return True

    def _session_news(self, status: Status, settings: NotifySettings) -> Notice | None:
        """After a resync that followed a gap: the active session's state, once per report.

        It replaces the incident's notice where there was one, so nothing stacks."""
        report, busy_before = status.last_worked_in_report, self._busy_before
        self._busy_before = frozenset(status.busy_sessions)
        if report is None or report == self._session_seen or status.last_gap_s is None:
            return None
        self._session_seen = report
        if not settings.notify_incidents or status.state is not State.CONNECTED:
            return None
        finished = settings.notify_session_finished and report.id in busy_before
        return _session_notice(self._last_key or f"session-{report.id}", report, finished)

    def _decide_incident(
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
                current, incident_key(current), status.last_worked_in
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
        if not self._pacing.is_free(tracked.key, now):  # made from the status of then, when due
            return None, self._pacing.free_at(tracked.key)
        tracked.shown = made_from
        return ShowNotice(_incident_notice(tracked, status, now)), None

    def _finish(
        self, tracked: _Tracked, status: Status, settings: NotifySettings
    ) -> list[NoticeAction]:
        if tracked.shown is None:
            return []
        self._last_key = tracked.key
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

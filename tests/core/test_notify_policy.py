"""The notification policy with injected time: statuses in, notices out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import pytest

from tests.factories import make_status
from tray.core import causes
from tray.core.causes import Cause
from tray.core.messages import (
    Event,
    Exited,
    Listening,
    OpenStream,
    Ready,
    Spawn,
    StartRequested,
    StopRequested,
    StreamClosed,
    StreamEvent,
    StreamOpened,
    Tick,
)
from tray.core.notice_pacing import MIN_SHOWN_S
from tray.core.notify_policy import (
    RECOVERED_TITLE,
    SESSION_TITLE,
    WAKE_QUIET_S,
    CloseNotice,
    Notice,
    NoticeAction,
    NoticeButton,
    NotifyDecision,
    NotifyPolicy,
    ShowNotice,
    incident_key,
)
from tray.core.resume import Condition, SessionReport
from tray.core.settings import Settings
from tray.core.status import Incident, State, Status
from tray.core.supervisor import Supervisor
from tray.generations.v1 import read

CRASH = causes.process_exited(1, ["Error: boom"])
BROKEN = causes.stream_broken("peer closed connection")
OPENED = 100.0
GRACE = Settings().notification_grace_s
RESTART_ONLY = (NoticeButton.RESTART_SERVER,)
WITH_LOG = (NoticeButton.RESTART_SERVER, NoticeButton.SHOW_LOG)


def down(
    state: State = State.CRASHED,
    *,
    now: float = OPENED,
    cause: Cause = CRASH,
    opened_at: float = OPENED,
    attempt: int = 1,
    next_retry_at: float | None = None,
    session: str | None = "ses_a",
    history: tuple[Incident, ...] = (),
) -> Status:
    """A status during the incident that opened at `opened_at`."""
    incident = Incident(opened_at=opened_at, cause=cause)
    return make_status(
        state,
        now=now,
        cause=cause,
        attempt=attempt,
        next_retry_at=next_retry_at,
        incidents=(*history, incident),
        last_worked_in=session,
    )


def closed(
    opened_at: float = OPENED, closed_at: float = OPENED + 12, cause: Cause = CRASH
) -> Incident:
    return Incident(opened_at=opened_at, cause=cause, closed_at=closed_at, recovered=True)


def back(incident: Incident, session: str | None = "ses_b") -> Status:
    """Connected again, `incident` closed as recovered."""
    assert incident.closed_at is not None
    return make_status(
        State.CONNECTED, now=incident.closed_at, incidents=(incident,), last_worked_in=session
    )


def stopped(incident: Incident | None = None) -> Status:
    incidents = () if incident is None else (replace(incident, recovered=False),)
    now = incident.closed_at if incident and incident.closed_at else OPENED
    return make_status(State.STOPPED, now=now, incidents=incidents)


@dataclass
class Feed:
    """The app's side: one policy, the settings, the last wake."""

    settings: Settings
    woke_at: float | None = None

    def __post_init__(self) -> None:
        self.policy = NotifyPolicy()

    def __call__(self, status: Status, now: float | None = None) -> NotifyDecision:
        at = status.now if now is None else now
        return self.policy.decide(status, self.settings, at, self.woke_at)


def feed(**settings: Any) -> Feed:
    return Feed(replace(Settings(), **settings))


def shown(decision: NotifyDecision) -> Notice:
    """The one notice a decision shows."""
    assert len(decision.actions) == 1, decision
    action = decision.actions[0]
    assert isinstance(action, ShowNotice), action
    return action.notice


def past_grace(f: Feed, status: Status) -> Notice:
    """Feed an incident status, then ask again when the grace period is over."""
    first = f(status)
    assert first.actions == ()
    assert first.next_check_at is not None
    return shown(f(status, first.next_check_at))


# -- the grace period ----------------------------------------------------------------------------


def test_connected_needs_nothing() -> None:
    assert feed()(make_status()) == NotifyDecision((), None)


def test_an_incident_waits_for_the_grace_period_then_shows() -> None:
    f = feed()
    status = down(next_retry_at=OPENED + 4)
    assert f(status) == NotifyDecision((), OPENED + GRACE)
    assert f(status, OPENED + GRACE - 0.01) == NotifyDecision((), OPENED + GRACE)
    notice = shown(f(status, OPENED + GRACE))
    assert notice.key == incident_key(status.incidents[-1])
    assert f(status, OPENED + GRACE + 1) == NotifyDecision((), None)


def test_a_blip_shorter_than_the_grace_period_never_shows_nor_recovers() -> None:
    f = feed()
    assert f(down(State.RECONNECTING, cause=BROKEN)).actions == ()
    decision = f(back(closed(closed_at=OPENED + GRACE - 0.5, cause=BROKEN)))
    assert decision == NotifyDecision((), None)


def test_grace_comes_from_the_settings() -> None:
    f = feed(notification_grace_s=30.0)
    assert f(down()).next_check_at == OPENED + 30
    assert f(down(now=OPENED + 29)).actions == ()
    assert shown(f(down(now=OPENED + 30))).title == "opencode server down"


def test_zero_grace_shows_at_once() -> None:
    assert shown(feed(notification_grace_s=0.0)(down())).state is State.CRASHED


# -- what a notice says --------------------------------------------------------------------------


def test_a_crash_says_the_cause_and_when_the_restart_comes() -> None:
    f = feed()
    status = down(attempt=1, next_retry_at=OPENED + GRACE + 4)
    notice = past_grace(f, status)
    assert notice == Notice(
        key=incident_key(status.incidents[-1]),
        title="opencode server down",
        body="Server exited with code 1: Error: boom\nRestarting in 4 s (attempt 1)",
        state=State.CRASHED,
        buttons=WITH_LOG,
        session="ses_a",
        critical=False,
    )


@pytest.mark.parametrize(
    ("state", "attempt", "retry_in", "title", "doing"),
    [
        (State.RECONNECTING, 1, 2.0, "opencode connection lost", "Reconnecting in 2 s (attempt 1)"),
        (
            State.STALLED,
            1,
            0.4,
            "opencode server not responding",
            "Reconnecting in 0.4 s (attempt 1)",
        ),
        (State.CRASHED, 1, None, "opencode server down", "Restarting (attempt 1)"),
        (State.CRASHED, 1, -3.0, "opencode server down", "Restarting in 0.0 s (attempt 1)"),
        (State.STARTING, 0, None, "opencode server restarting", "Starting the server again"),
    ],
)
def test_what_the_app_is_doing(
    state: State, attempt: int, retry_in: float | None, title: str, doing: str
) -> None:
    at = OPENED + GRACE
    retry_at = None if retry_in is None else at + retry_in
    status = down(state, now=at, cause=BROKEN, attempt=attempt, next_retry_at=retry_at)
    notice = shown(feed()(status))
    assert notice.title == title
    assert notice.body == f"Event stream broke: peer closed connection\n{doing}"
    assert notice.state is state
    assert not notice.critical


def test_the_countdown_is_counted_from_when_the_notice_is_shown() -> None:
    status = down(attempt=1, next_retry_at=OPENED + 8)
    notice = past_grace(feed(), status)
    assert notice.body.endswith("Restarting in 3 s (attempt 1)")


@pytest.mark.parametrize(
    ("cause", "buttons"),
    [
        (causes.process_exited(1, []), WITH_LOG),
        (causes.process_exited(-11, ["panic(main thread): Segmentation fault"]), WITH_LOG),
        (causes.startup_timeout(60), WITH_LOG),
        (causes.server_hung(61), WITH_LOG),
        (causes.stream_broken("reset"), RESTART_ONLY),
        (causes.stream_closed(), RESTART_ONLY),
        (causes.heartbeat_missed(25), RESTART_ONLY),
        (causes.connection_refused("http://127.0.0.1:4096"), RESTART_ONLY),
        (causes.wrong_password(), RESTART_ONLY),
        (causes.port_in_use(4096, "nginx"), RESTART_ONLY),
    ],
)
def test_show_log_where_the_log_says_more(cause: Cause, buttons: tuple[NoticeButton, ...]) -> None:
    assert past_grace(feed(), down(cause=cause)).buttons == buttons


def test_giving_up_shows_at_once_critical_with_the_log() -> None:
    cause = causes.crash_loop(5, 300, CRASH)
    notice = shown(feed()(down(State.FAILED, cause=cause, attempt=0)))
    assert notice.title == "opencode server gave up"
    assert notice.body == (
        "Gave up after 5 crashes in 5 min; last: server exited with code 1: Error: boom\n"
        "Restart from the menu when it is fixed."
    )
    assert notice.critical
    assert notice.buttons == WITH_LOG


def test_a_fatal_cause_at_startup_shows_at_once() -> None:
    cause = causes.binary_not_found(["/usr/bin/opencode"])
    notice = shown(feed()(down(State.FAILED, cause=cause, attempt=0, session=None)))
    assert notice.body.startswith("Opencode not found (tried /usr/bin/opencode)")
    assert notice.buttons == WITH_LOG
    assert notice.session is None


def test_the_button_labels() -> None:
    assert [b.label for b in NoticeButton] == [
        "Restart server",
        "Show log",
        "Continue",
        "Abort",
        "Resume",
        "Update and restart",
    ]


# -- one notice per incident, replaced -----------------------------------------------------------


def test_the_notice_is_replaced_as_the_incident_goes_on() -> None:
    f = feed()
    first = past_grace(f, down(State.RECONNECTING, cause=BROKEN, next_retry_at=OPENED + 6))
    upgraded = shown(f(down(now=OPENED + 6, cause=CRASH, next_retry_at=OPENED + 7)))
    starting = shown(f(down(State.STARTING, now=OPENED + 7, attempt=0)))
    assert first.key == upgraded.key == starting.key
    assert first.body.startswith("Event stream broke")
    assert upgraded.body.startswith("Server exited with code 1")
    assert upgraded.buttons == WITH_LOG
    assert starting.title == "opencode server restarting"


def test_the_same_status_again_changes_nothing() -> None:
    f = feed()
    status = down(next_retry_at=OPENED + 20)
    past_grace(f, status)
    for later in (OPENED + 6, OPENED + 9, OPENED + 19):
        assert f(replace(status, now=later)) == NotifyDecision((), None)


def test_a_new_attempt_replaces_the_notice() -> None:
    f = feed()
    past_grace(f, down(attempt=1, next_retry_at=OPENED + 6))
    notice = shown(f(down(now=OPENED + 9, attempt=2, next_retry_at=OPENED + 11)))
    assert notice.body.endswith("Restarting in 2 s (attempt 2)")


def test_recovery_replaces_the_notice_with_how_long_it_took() -> None:
    f = feed()
    incident = past_grace(f, down())
    notice = shown(f(back(closed(closed_at=OPENED + 12))))
    assert notice == Notice(
        key=incident.key,
        title=RECOVERED_TITLE,
        body="Reconnected after 12 s\nIt was: server exited with code 1: Error: boom",
        state=State.CONNECTED,
        session="ses_a",
    )
    assert f(back(closed(closed_at=OPENED + 12))) == NotifyDecision((), None)


def test_a_long_recovery_reads_in_minutes() -> None:
    f = feed()
    past_grace(f, down())
    notice = shown(f(back(closed(closed_at=OPENED + 185))))
    assert notice.body.startswith("Reconnected after 3 min 5 s\n")


def test_the_click_resumes_the_session_active_when_the_incident_began() -> None:
    f = feed()
    assert f(down(session="ses_first")).actions == ()
    notice = shown(f(down(now=OPENED + GRACE, session="ses_later")))
    assert notice.session == "ses_first"
    assert shown(f(back(closed(), session="ses_later"))).session == "ses_first"


def test_each_incident_has_its_own_notice() -> None:
    f = feed()
    first = past_grace(f, down())
    recovered = shown(f(back(closed(closed_at=OPENED + 12))))
    second_at = OPENED + 100
    second = down(opened_at=second_at, now=second_at, history=(closed(closed_at=OPENED + 12),))
    assert f(second).next_check_at == second_at + GRACE
    again = shown(f(second, second_at + GRACE))
    assert first.key == recovered.key != again.key


def test_a_new_incident_in_the_same_status_as_the_recovery() -> None:
    f = feed()
    first = past_grace(f, down())
    second_at = OPENED + 30
    both = down(opened_at=second_at, now=second_at, history=(closed(closed_at=second_at),))
    decision = f(both)
    assert decision.next_check_at == second_at + GRACE
    recovered = shown(decision)
    assert (recovered.key, recovered.title) == (first.key, RECOVERED_TITLE)


def test_an_incident_the_history_forgot_is_just_closed() -> None:
    f = feed()
    notice = past_grace(f, down())
    assert f(make_status(now=OPENED + 50)) == NotifyDecision((CloseNotice(notice.key),), None)


def test_a_shown_failure_is_replaced_when_the_user_restarts_then_recovers() -> None:
    f = feed()
    failed = shown(f(down(State.FAILED, cause=causes.crash_loop(5, 300, CRASH), attempt=0)))
    restarting = shown(f(down(State.STARTING, now=OPENED + 40, attempt=0)))
    recovered = shown(f(back(closed(closed_at=OPENED + 43))))
    assert failed.key == restarting.key == recovered.key
    assert not restarting.critical
    assert recovered.body.startswith("Reconnected after 43 s")


# -- the user stopped the server -----------------------------------------------------------------


def test_a_stop_by_the_user_closes_the_notice_and_says_nothing() -> None:
    f = feed()
    notice = past_grace(f, down())
    stop = stopped(Incident(OPENED, CRASH, closed_at=OPENED + 8))
    assert f(stop) == NotifyDecision((CloseNotice(notice.key),), None)
    assert f(stop) == NotifyDecision((), None)


def test_a_stop_within_the_grace_period_says_nothing() -> None:
    f = feed()
    assert f(down()).actions == ()
    assert f(stopped(Incident(OPENED, CRASH, closed_at=OPENED + 2))) == NotifyDecision((), None)
    assert f(stopped(), OPENED + 60) == NotifyDecision((), None)


def test_stopped_with_an_incident_still_listed_open_says_nothing() -> None:
    status = replace(down(), state=State.STOPPED)
    assert feed()(status, OPENED + 60) == NotifyDecision((), None)


# -- the toggles ---------------------------------------------------------------------------------


def test_incident_notices_off_means_none_at_all() -> None:
    f = feed(notify_incidents=False)
    assert f(down()) == NotifyDecision((), None)
    assert f(down(), OPENED + 60) == NotifyDecision((), None)
    assert f(down(State.FAILED, now=OPENED + 70, attempt=0)) == NotifyDecision((), None)
    assert f(back(closed(closed_at=OPENED + 80))) == NotifyDecision((), None)


def test_turning_incident_notices_off_closes_the_one_shown_and_on_shows_it_again() -> None:
    f = feed()
    notice = past_grace(f, down())
    f.settings = replace(f.settings, notify_incidents=False)
    assert f(down(now=OPENED + 8)) == NotifyDecision((CloseNotice(notice.key),), None)
    assert f(back(closed())) == NotifyDecision((), None)

    second_at = OPENED + 100
    second = down(opened_at=second_at, now=second_at + GRACE, history=(closed(),))
    assert f(second) == NotifyDecision((), None)
    f.settings = Settings()
    assert shown(f(second)).key == incident_key(second.incidents[-1])


def test_recovered_notices_off_closes_the_incident_notice_instead() -> None:
    f = feed(notify_recovered=False)
    notice = past_grace(f, down())
    assert f(back(closed())) == NotifyDecision((CloseNotice(notice.key),), None)


# -- waking from sleep ---------------------------------------------------------------------------


def woken(at: float) -> Feed:
    f = feed()
    f.woke_at = at
    return f


@pytest.mark.parametrize(
    "woke_at",
    [OPENED + 0.01 - WAKE_QUIET_S, OPENED - 2, OPENED, OPENED + GRACE],
    ids=["quiet-period-ends", "just-before", "same-time", "noticed-in-grace"],
)
def test_an_incident_right_after_a_wake_never_shows(woke_at: float) -> None:
    f = woken(woke_at)
    assert f(down()) == NotifyDecision((), None)
    assert f(down(), OPENED + 120) == NotifyDecision((), None)
    assert f(back(closed(closed_at=OPENED + 130))) == NotifyDecision((), None)


def test_an_incident_after_the_quiet_period_shows() -> None:
    f = woken(OPENED - WAKE_QUIET_S)
    assert past_grace(f, down()).state is State.CRASHED


def test_a_wake_long_after_the_incident_began_changes_nothing() -> None:
    f = feed()
    past_grace(f, down())
    f.woke_at = OPENED + 30
    assert f(down(now=OPENED + 31)) == NotifyDecision((), None)
    assert shown(f(back(closed(closed_at=OPENED + 40)))).title == RECOVERED_TITLE


def test_a_wake_noticed_late_still_silences_an_incident_in_its_grace_period() -> None:
    f = feed()
    assert f(down()).next_check_at == OPENED + GRACE
    f.woke_at = OPENED + 1
    assert f(down(), OPENED + GRACE) == NotifyDecision((), None)


def test_an_incident_silenced_by_a_wake_stays_silent_after_the_next_wake() -> None:
    f = woken(OPENED - 1)
    assert f(down()) == NotifyDecision((), None)
    f.woke_at = OPENED + 500
    assert f(down(now=OPENED + 501)) == NotifyDecision((), None)


def test_giving_up_after_a_wake_still_shows_and_then_recovers() -> None:
    f = woken(OPENED - 1)
    assert f(down()) == NotifyDecision((), None)
    failed = shown(f(down(State.FAILED, now=OPENED + 9, cause=causes.crash_loop(5, 300, CRASH))))
    assert failed.critical
    assert shown(f(down(State.STARTING, now=OPENED + 20, attempt=0))).key == failed.key
    assert shown(f(back(closed(closed_at=OPENED + 25)))).title == RECOVERED_TITLE


# -- with the real supervisor --------------------------------------------------------------------


class Run:
    """The supervisor on a fake clock, with the policy asked as the app asks it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sup = Supervisor(settings.policy(), lambda: 0.5)
        self.policy = NotifyPolicy()
        self.now = 0.0
        self.proc_gen = self.stream_gen = 0
        self.check_at: float | None = None
        self.log: list[tuple[float, NoticeAction]] = []

    def send(self, event: Event) -> None:
        for effect in self.sup.handle(event, self.now):
            if isinstance(effect, Spawn):
                self.proc_gen = effect.gen
            elif isinstance(effect, OpenStream):
                self.stream_gen = effect.gen
        self.ask()

    def ask(self) -> None:
        decision = self.policy.decide(self.sup.status(self.now), self.settings, self.now, None)
        self.log += [(self.now, action) for action in decision.actions]
        self.check_at = decision.next_check_at

    def advance(self, seconds: float) -> None:
        """Let time pass: supervisor deadlines tick it, the grace timer asks the policy."""
        target = self.now + seconds
        while True:
            due = [d for d in (self.sup.next_deadline(), self.check_at) if d is not None]
            if not due or min(due) > target:
                break
            self.now = max(self.now, min(due))
            self.send(Tick())
        self.now = target

    def idle(self, seconds: float) -> None:
        """Connected and quiet: a heartbeat every 10 s."""
        for _ in range(round(seconds / 10)):
            self.advance(10)
            self.send(StreamEvent(self.stream_gen, read("server.heartbeat", {})))

    def boot(self) -> None:
        self.send(Listening(self.proc_gen, "http://127.0.0.1:4096"))
        self.send(Ready(self.proc_gen, "1.18.33"))

    def connect(self) -> None:
        self.send(StreamOpened(self.stream_gen))
        self.send(StreamEvent(self.stream_gen, read("session.idle", {"sessionID": "ses_x"})))

    def crash(self) -> None:
        self.send(Exited(self.proc_gen, -9, ("Killed",)))


def started() -> Run:
    run = Run(Settings())
    run.send(StartRequested())
    run.boot()
    run.connect()
    run.idle(100)
    return run


def test_real_quick_restart_stays_quiet() -> None:
    run = started()
    run.crash()
    run.advance(1.5)
    run.boot()
    run.advance(1.0)
    run.connect()
    run.idle(60)
    assert run.log == []


def test_real_slow_restart_shows_then_recovers() -> None:
    run = started()
    run.crash()
    crashed_at = run.now
    run.advance(8)
    run.boot()
    run.connect()
    run.idle(60)
    assert [(at - crashed_at, type(a)) for at, a in run.log] == [
        (GRACE, ShowNotice),
        (8, ShowNotice),
    ]
    first, recovered = (a.notice for _, a in run.log if isinstance(a, ShowNotice))
    assert first.title == "opencode server restarting"
    assert first.body.startswith("Server killed by SIGKILL: Killed\n")
    assert first.session == recovered.session == "ses_x"
    assert recovered.body.startswith("Reconnected after 8 s\n")


def test_real_stream_drop_with_no_reconnect_shows_reconnecting() -> None:
    run = started()
    run.send(StreamClosed(run.stream_gen, BROKEN))
    run.advance(GRACE - 0.1)
    assert run.log == []
    run.advance(0.2)
    [(_, action)] = run.log
    assert isinstance(action, ShowNotice)
    assert action.notice.title == "opencode connection lost"
    assert (
        action.notice.body == "Event stream broke: peer closed connection\nReconnecting (attempt 1)"
    )


def test_real_crash_loop_gives_up_loudly_and_a_stop_closes_it() -> None:
    run = started()
    for _ in range(5):
        run.crash()
        deadline = run.sup.next_deadline()
        if deadline is not None:
            run.advance(deadline - run.now)
    assert run.sup.state() is State.FAILED
    run.advance(MIN_SHOWN_S)  # the notice before it stays its second on screen
    last = run.log[-1][1]
    assert isinstance(last, ShowNotice)
    assert last.notice.critical
    run.send(StopRequested())
    run.advance(MIN_SHOWN_S)
    assert run.log[-1][1] == CloseNotice(last.notice.key)


def _shows(run: Run) -> list[tuple[float, Notice]]:
    return [(at, a.notice) for at, a in run.log if isinstance(a, ShowNotice)]


def _killed_while_restarting(run: Run) -> float:
    """The server killed; its replacement killed while starting; the next one comes up. When
    the incident began."""
    run.crash()
    crashed_at = run.now
    run.advance(run.sup.next_deadline() - run.now)  # type: ignore[operator]
    run.send(Listening(run.proc_gen, "http://127.0.0.1:4096"))
    run.advance(0.5)
    run.crash()  # while starting
    run.advance(run.sup.next_deadline() - run.now)  # type: ignore[operator]
    run.advance(3.0)  # a slow start
    run.boot()
    run.connect()
    run.idle(20)
    return crashed_at


def test_real_one_incident_is_one_notice_replaced_in_place_each_shown_a_second() -> None:
    run = started()
    began = _killed_while_restarting(run)
    shows = _shows(run)
    assert {notice.key for _, notice in shows} == {incident_key(Incident(began, CRASH))}
    assert not any(isinstance(a, CloseNotice) for _, a in run.log)
    assert shows[0][0] == began + GRACE
    assert shows[-1][1].title == RECOVERED_TITLE
    gaps = [later - earlier for (earlier, _), (later, _) in pairwise(shows)]
    assert len(gaps) >= 1
    assert min(gaps) >= MIN_SHOWN_S


def test_real_attempts_are_counted_per_incident() -> None:
    run = started()
    _killed_while_restarting(run)
    run.idle(10)  # well within the supervisor's 60 s: its own count goes on
    second_at = _killed_while_restarting(run)
    assert run.sup.status(run.now).restarts == 4
    [(_, counted)] = [(at, n) for at, n in _shows(run) if at > second_at and "attempt" in n.body]
    assert counted.body.endswith("Restarting in 4 s (attempt 2)")  # the supervisor's is 4


def test_a_change_sooner_than_a_second_after_a_notice_waits_and_is_made_fresh() -> None:
    f = feed()
    first = past_grace(f, down(attempt=1, next_retry_at=OPENED + 20))
    at = OPENED + GRACE
    soon = down(State.STARTING, now=at + 0.3, attempt=0)
    assert f(soon) == NotifyDecision((), at + MIN_SHOWN_S)
    later = down(now=at + MIN_SHOWN_S, attempt=2, next_retry_at=at + 3)
    notice = shown(f(later))
    assert notice.key == first.key
    assert notice.body.endswith("Restarting in 2 s (attempt 2)")


def test_a_recovery_sooner_than_a_second_after_the_notice_waits() -> None:
    f = feed()
    first = past_grace(f, down())
    incident = closed(closed_at=OPENED + GRACE + 0.2)
    assert f(back(incident)) == NotifyDecision((), OPENED + GRACE + MIN_SHOWN_S)
    recovered = shown(f(back(incident), OPENED + GRACE + MIN_SHOWN_S))
    assert (recovered.key, recovered.title) == (first.key, RECOVERED_TITLE)
    assert recovered.body.startswith("Reconnected after 5 s\n")


def test_a_close_sooner_than_a_second_after_the_notice_waits() -> None:
    f = feed()
    notice = past_grace(f, down())
    stop = stopped(Incident(OPENED, CRASH, closed_at=OPENED + GRACE + 0.5))
    assert f(stop) == NotifyDecision((), OPENED + GRACE + MIN_SHOWN_S)
    assert f(stop, OPENED + GRACE + MIN_SHOWN_S) == NotifyDecision((CloseNotice(notice.key),), None)


def test_session_news_right_after_the_recovery_waits_its_second() -> None:
    f = feed()
    key = past_grace(f, down(session="ses_a")).key
    recovered_at = OPENED + 12
    assert shown(f(back(closed(closed_at=recovered_at)))).title == RECOVERED_TITLE
    news = replace(_after_gap(_report(Condition.INTERRUPTED), closed()), now=recovered_at + 0.1)
    assert f(news) == NotifyDecision((), recovered_at + MIN_SHOWN_S)
    assert shown(f(news, recovered_at + MIN_SHOWN_S)).key == key
    assert f(news, recovered_at + 5) == NotifyDecision((), None)


# -- the active session after a gap ----------------------------------------------------------------


def _report(condition: Condition, **counts: int) -> SessionReport:
    return SessionReport("ses_a", "Fix it", "/p", condition, **counts)


def _after_gap(report: SessionReport | None, incident: Incident | None = None) -> Status:
    """Connected again, the resync found `report`."""
    incidents = () if incident is None else (incident,)
    return make_status(
        State.CONNECTED,
        now=OPENED + 20,
        incidents=incidents,
        last_gap_s=3.0,
        last_worked_in_report=report,
    )


def _through_a_crash(f: Feed) -> str:
    """A crash shown and recovered; the key of its notice."""
    key = past_grace(f, down(session="ses_a")).key
    f(back(closed()))
    return key


def test_an_interrupted_session_replaces_the_recovered_notice_with_resume_and_continue() -> None:
    f = feed()
    key = _through_a_crash(f)
    notice = shown(f(_after_gap(_report(Condition.INTERRUPTED), closed())))
    assert (notice.key, notice.title, notice.session) == (key, SESSION_TITLE, "ses_a")
    assert notice.body == (
        "“Fix it” was interrupted mid-turn.\nClick to resume it, or Continue the turn."
    )
    assert notice.buttons == (NoticeButton.CONTINUE,)
    assert f(_after_gap(_report(Condition.INTERRUPTED), closed())).actions == ()


def test_pending_requests_are_surfaced() -> None:
    f = feed()
    report = _report(Condition.RUNNING, pending_permissions=2, pending_questions=1)
    notice = shown(f(_after_gap(report)))
    assert notice.key == "session-ses_a"
    assert notice.body == (
        "“Fix it” is waiting for your answer (2 permission requests, 1 question).\n"
        "Click to resume it."
    )


def test_a_deleted_session_is_said_clearly() -> None:
    notice = shown(feed()(_after_gap(_report(Condition.GONE))))
    assert notice.body == "The session you were in (ses_a) was deleted."
    assert notice.session is None


@pytest.mark.parametrize("wanted", [True, False])
def test_a_session_that_finished_while_disconnected(wanted: bool) -> None:
    f = feed(notify_session_finished=wanted)
    f(make_status(busy_sessions=("ses_a",)))
    decision = f(_after_gap(_report(Condition.IDLE)))
    if wanted:
        assert "finished while the connection was down" in shown(decision).body
    else:
        assert decision.actions == ()


@pytest.mark.parametrize(
    "status",
    [
        replace(_after_gap(_report(Condition.INTERRUPTED)), last_gap_s=None),  # first sync
        _after_gap(_report(Condition.RUNNING)),
        _after_gap(_report(Condition.IDLE)),
        _after_gap(None),
    ],
)
def test_nothing_to_say_about_the_session(status: Status) -> None:
    assert feed()(status).actions == ()


def test_session_news_respects_the_incident_toggle() -> None:
    assert feed(notify_incidents=False)(_after_gap(_report(Condition.INTERRUPTED))).actions == ()

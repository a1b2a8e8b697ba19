"""The supervisor state machine, driven by a fake clock: every state, event and timer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.core.driver import PID, URL, VERSION, Driver
from tray.core import causes
from tray.core.causes import Cause, CauseKind
from tray.core.messages import (
    CheckReadiness,
    CloseStream,
    Effect,
    Event,
    Exited,
    Listening,
    NotReady,
    OpenStream,
    Ready,
    Resync,
    Resynced,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    StreamClosed,
    StreamEvent,
    StreamOpened,
    Terminate,
    Tick,
)
from tray.core.status import Incident, State, Status
from tray.core.supervisor import HISTORY, Policy
from tray.generations.v1 import read

SHORTEST = 0.0  # rng: every delay at its lower bound, d/2
LONGEST = 0.999999  # rng: every delay just under its ceiling, d
GRACE = Policy().stop_grace_s
TERMINATE_1 = Terminate(1, GRACE)
PORT_IN_USE = causes.port_in_use(4096, None)
EXIT_1 = causes.process_exited(1, ())
BUN_PANIC = (
    "panic(main thread): Segmentation fault at address 0x0",
    "oh no: Bun has crashed. This indicates a bug in Bun, not your code.",
)


def open_incident(d: Driver) -> Incident:
    incident = d.status.open_incident
    assert incident is not None, "no open incident"
    return incident


def retry_in(d: Driver) -> float:
    delay = d.status.next_retry_in_s
    assert delay is not None, "no retry scheduled"
    return delay


def snapshot(d: Driver) -> tuple[State, float | None, Status]:
    return d.state(), d.sup.next_deadline(), d.status


# -- phases: a fresh driver brought to one situation, all at gen 1 -------------------------------


def starting(d: Driver) -> None:
    d.start()
    d.spawned()


def listening(d: Driver) -> None:
    starting(d)
    d.listening()


def connecting(d: Driver) -> None:
    d.start()
    d.boot()


def connected(d: Driver) -> None:
    d.start()
    d.connect()


def reconnecting(d: Driver) -> None:
    connected(d)
    d.closed(causes.stream_closed())


def stalled(d: Driver) -> None:
    connected(d)
    d.advance(d.sup.policy.heartbeat_timeout_s)


def crashed(d: Driver) -> None:
    connected(d)
    d.exited(1)


def failed(d: Driver) -> None:
    d.start()
    d.spawn_failed(causes.binary_not_found([]))


def failed_running(d: Driver) -> None:
    """Gave up on a server that is still being terminated."""
    d.start()
    d.boot("2.0.0")


def stopping(d: Driver) -> None:
    connected(d)
    d.stop()


def stopped(d: Driver) -> None:
    stopping(d)
    d.exited(-15)


def respawned(d: Driver) -> None:
    """The second process, after a crash: events of the first are stale."""
    crashed(d)
    d.next_tick()
    d.spawned()


def reconnected(d: Driver) -> None:
    """The second stream, after a reconnect: events of the first are stale."""
    reconnecting(d)
    d.next_tick()
    d.opened()


PHASES: dict[str, tuple[Callable[[Driver], None], State]] = {
    "fresh": (lambda d: None, State.STOPPED),
    "starting": (starting, State.STARTING),
    "listening": (listening, State.STARTING),
    "connecting": (connecting, State.STARTING),
    "connected": (connected, State.CONNECTED),
    "reconnecting": (reconnecting, State.RECONNECTING),
    "stalled": (stalled, State.STALLED),
    "crashed": (crashed, State.CRASHED),
    "failed": (failed, State.FAILED),
    "failed_running": (failed_running, State.FAILED),
    "stopping": (stopping, State.STOPPED),
    "stopped": (stopped, State.STOPPED),
    "respawned": (respawned, State.STARTING),
    "reconnected": (reconnected, State.CONNECTED),
}


def in_phase(name: str, policy: Policy | None = None, rng: float = 0.5) -> Driver:
    d = Driver(policy, rng)
    PHASES[name][0](d)
    return d


@pytest.mark.parametrize("phase", PHASES)
def test_phase_state(phase: str) -> None:
    assert in_phase(phase).state() is PHASES[phase][1]


def test_every_state_is_reached_and_left() -> None:
    d = Driver(rng=SHORTEST)
    d.start()
    d.connect()
    d.closed(causes.stream_broken("reset"))
    d.next_tick()
    d.opened()
    d.advance(25)
    d.next_tick()
    d.opened()
    d.exited(1)
    d.next_tick()
    d.boot("2.0.0")
    d.stop()
    d.start()
    d.exited(-15)
    d.connect()
    assert d.states == [
        State.STOPPED,
        State.STARTING,
        State.CONNECTED,
        State.RECONNECTING,
        State.CONNECTED,
        State.STALLED,
        State.CONNECTED,
        State.CRASHED,
        State.STARTING,
        State.FAILED,
        State.STOPPED,
        State.STARTING,
        State.CONNECTED,
    ]
    assert set(d.states[:-1]) == set(State)


# -- events that must change nothing -------------------------------------------------------------

EventAt = Callable[[int, int], Event]  # (process gen, stream gen) -> event
ADAPTER_EVENTS: dict[str, EventAt] = {
    "spawned": lambda p, s: Spawned(p, PID + 1),
    "listening": lambda p, s: Listening(p, URL),
    "ready": lambda p, s: Ready(p, VERSION),
    "not_ready": lambda p, s: NotReady(p, PORT_IN_USE),
    "exited": lambda p, s: Exited(p, 1),
    "spawn_failed": lambda p, s: SpawnFailed(p, PORT_IN_USE),
    "opened": lambda p, s: StreamOpened(s),
    "stream_event": lambda p, s: StreamEvent(s, read("session.idle", {"sessionID": "ses_a"})),
    "closed": lambda p, s: StreamClosed(s, causes.wrong_password()),
}
EVENTS: dict[str, EventAt] = {
    **ADAPTER_EVENTS,
    "tick": lambda p, s: Tick(),
    "start": lambda p, s: StartRequested(),
    "stop": lambda p, s: StopRequested(),
}
PROCESS = ("listening", "ready", "not_ready", "exited", "spawn_failed")
STREAM = ("opened", "stream_event", "closed")
NOT_NOW = ("listening", "ready", "not_ready")
# Events with the current gens that change nothing in a phase.
IGNORED_NOW = {
    "fresh": (*PROCESS, *STREAM, "tick", "stop"),
    "starting": ("ready", "not_ready", *STREAM, "tick", "start"),
    "respawned": ("ready", "not_ready", *STREAM, "tick", "start"),
    "listening": ("listening", *STREAM, "tick", "start"),
    "connecting": (*NOT_NOW, "tick", "start"),
    "connected": (*NOT_NOW, "tick", "start"),
    "reconnected": (*NOT_NOW, "tick", "start"),
    "reconnecting": (*NOT_NOW, *STREAM, "tick", "start"),
    "stalled": (*NOT_NOW, *STREAM, "tick", "start"),
    "crashed": (*PROCESS, *STREAM, "tick", "start"),
    "failed": (*PROCESS, *STREAM, "tick"),
    "failed_running": (*NOT_NOW, *STREAM, "tick"),
    "stopping": (*NOT_NOW, *STREAM, "tick", "stop"),
    "stopped": (*PROCESS, *STREAM, "tick", "stop"),
}
GENS: dict[str, Callable[[Driver], tuple[int, int]]] = {
    "now": lambda d: (d.proc_gen, d.stream_gen),
    "stale": lambda d: (d.proc_gen - 1, d.stream_gen - 1),
    "future": lambda d: (d.proc_gen + 1, d.stream_gen + 1),
}
IGNORED = [
    *((phase, "now", name) for phase, names in IGNORED_NOW.items() for name in names),
    *(
        (phase, gens, name)
        for phase in PHASES
        for gens in ("stale", "future")
        for name in ADAPTER_EVENTS
    ),
]


def test_ignored_table_covers_every_phase() -> None:
    assert set(IGNORED_NOW) == set(PHASES)


@pytest.mark.parametrize(
    ("phase", "gens", "name"), [pytest.param(*case, id="-".join(case)) for case in IGNORED]
)
def test_ignored_events(phase: str, gens: str, name: str) -> None:
    d = in_phase(phase)
    before = snapshot(d)
    assert d.send(EVENTS[name](*GENS[gens](d))) == []
    assert snapshot(d) == before


# -- starting ------------------------------------------------------------------------------------


def test_fresh_supervisor_is_stopped_and_idle() -> None:
    d = Driver()
    assert d.sup.next_deadline() is None
    assert d.tick() == []
    assert d.status == Status(
        now=0.0,
        state=State.STOPPED,
        cause=None,
        attempt=0,
        next_retry_at=None,
        pid=None,
        url=None,
        version=None,
        ready_at=None,
        last_event_at=None,
        restarts=0,
        incidents=(),
        busy_sessions=(),
        last_worked_in=None,
        last_gap_s=None,
    )


def test_start_to_connected() -> None:
    d = Driver()
    steps: list[tuple[Callable[[], list[Effect]], list[Effect], float]] = [
        (d.start, [Spawn(1)], 60.5),
        (d.spawned, [], 61.0),  # the startup timeout counts from the process's start
        (d.listening, [CheckReadiness(1)], 61.0),
        (d.ready, [OpenStream(1)], 27.0),
        (d.opened, [Resync(None)], 27.5),
    ]
    for step, effects, deadline in steps:
        d.now += 0.5
        assert step() == effects
        assert d.sup.next_deadline() == deadline
    assert d.states == [State.STOPPED, State.STARTING, State.CONNECTED]
    status = d.status
    assert (status.pid, status.url, status.version) == (PID, URL, VERSION)
    assert (status.ready_at, status.uptime_s, status.last_event_at) == (2.0, 0.5, 2.5)
    assert status.stream_connected
    assert (status.cause, status.attempt, status.next_retry_in_s) == (None, 0, None)
    assert d.send(Resynced(None, ("ses_a",))) == []
    assert (d.status.busy_sessions, d.status.last_gap_s) == (("ses_a",), None)


def test_first_stream_event_counts_as_opened() -> None:
    d = Driver()
    d.start()
    d.boot()
    d.now = 1.0
    assert d.event("server.connected") == [Resync(None)]
    assert d.state() is State.CONNECTED
    assert d.opened() == []
    assert d.status.last_event_at == 1.0


def test_stream_events_feed_the_sessions_and_resync_replaces_busy() -> None:
    d = in_phase("connected")
    busy = {"sessionID": "ses_a", "status": {"type": "busy"}}
    d.now = 4.0
    assert d.event("session.status", busy) == []
    status = d.status
    assert (status.busy_sessions, status.last_worked_in, status.last_event_at) == (
        ("ses_a",),
        "ses_a",
        4.0,
    )
    d.now = 7.0
    assert d.status.since_last_event_s == 3.0
    assert d.send(Resynced(3.5, ("ses_b",), ("ses_a",))) == []
    # ses_a was heard busy after the connection's resync asked REST: newer than REST's answer
    assert (d.status.busy_sessions, d.status.last_gap_s) == (("ses_a", "ses_b"), 3.5)
    assert d.status.changed_in_gap == ("ses_a",)
    d.closed(causes.stream_broken("reset"))
    d.advance(1)
    d.opened()  # asks REST again: what the stream said before that is REST's to replace
    assert d.send(Resynced(1.0, ("ses_b",))) == []
    assert d.status.busy_sessions == ("ses_b",)


# -- crashes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rng", [SHORTEST, 0.5, LONGEST])
def test_crash_restarts_after_backoff_and_recovers(rng: float) -> None:
    d = in_phase("connected", rng=rng)
    d.idle(100)
    crash_at = d.now
    assert d.exited(-11, BUN_PANIC) == [CloseStream(1)]
    cause = causes.process_exited(-11, BUN_PANIC)
    assert cause.text == (
        "server killed by SIGSEGV: Bun crashed (Segmentation fault at address 0x0)"
    )
    assert (d.state(), d.cause, d.status.attempt) == (State.CRASHED, cause, 1)
    assert 0.5 <= retry_in(d) <= 1.0
    assert (d.status.pid, d.status.url, d.status.stream_connected) == (None, None, False)
    assert open_incident(d) == Incident(opened_at=crash_at, cause=cause)
    assert d.advance(1.0) == [Spawn(2)]
    assert d.logged(Spawn)[-1][0] - crash_at == pytest.approx(0.5 * (1 + rng))
    assert (d.state(), d.status.restarts) == (State.STARTING, 1)
    d.now += 3.0
    assert d.connect()[-1] == Resync(d.now - crash_at)
    assert d.status.incidents == (Incident(crash_at, cause, closed_at=d.now, recovered=True),)
    assert d.status.incidents[0].duration(d.now + 100) == d.now - crash_at
    assert (d.status.open_incident, d.status.cause) == (None, None)


def test_exit_after_a_broken_stream_upgrades_the_cause() -> None:
    d = in_phase("connected")
    d.now = 30.0
    assert d.closed(causes.stream_broken("peer closed connection")) == []
    assert (d.state(), d.cause.kind, d.status.attempt) == (
        State.RECONNECTING,
        CauseKind.STREAM_BROKEN,
        1,
    )
    assert retry_in(d) <= 0.2
    d.now = 30.05
    assert d.exited(-9) == []
    assert (d.state(), d.cause) == (State.CRASHED, causes.process_exited(-9, ()))
    assert d.cause.text == "server killed by SIGKILL"
    assert open_incident(d).opened_at == 30.0
    assert len(d.status.incidents) == 1
    assert d.advance(1.0) == [Spawn(2)]


def test_a_weaker_cause_does_not_replace_a_stronger_one() -> None:
    d = in_phase("crashed")
    d.next_tick()
    d.boot()
    assert d.closed(causes.connection_refused(URL)) == []
    assert (d.state(), d.cause) == (State.RECONNECTING, EXIT_1)
    assert d.next_tick() == [OpenStream(3)]
    d.opened()
    assert d.status.incidents[-1].cause == EXIT_1


def crash_at_once(d: Driver) -> list[Effect]:
    return d.spawned() + d.exited(1)


def refuse_password(d: Driver) -> list[Effect]:
    return d.boot() + d.opened() + d.closed(causes.wrong_password()) + d.exited(-15)


FAILURES: dict[str, tuple[Callable[[Driver], list[Effect]], Cause]] = {
    "exit": (crash_at_once, EXIT_1),
    "port_in_use": (lambda d: d.spawn_failed(PORT_IN_USE), PORT_IN_USE),
    "spawn_failed": (
        lambda d: d.spawn_failed(causes.spawn_failed("/opt/oc", "ENOMEM")),
        causes.spawn_failed("/opt/oc", "ENOMEM"),
    ),
    "wrong_password": (refuse_password, causes.wrong_password()),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_five_quick_failures_trip_the_breaker(failure: str) -> None:
    fail, cause = FAILURES[failure]
    d = Driver(rng=SHORTEST)
    d.start()
    for attempt in range(1, 5):
        fail(d)
        # Each 401 comes after a stream that opened: a new incident each time, which the user
        # is told counts its own attempts; the breaker counts them all.
        told = 1 if failure == "wrong_password" else attempt
        assert (d.state(), d.cause, d.status.attempt) == (State.CRASHED, cause, told)
        assert d.next_tick() == [Spawn(attempt + 1)]
    fail(d)
    assert d.state() is State.FAILED
    assert d.cause == causes.crash_loop(5, 300.0, cause)
    assert d.cause.text == f"gave up after 5 crashes in 5 min; last: {cause.text}"
    assert d.now < 300
    assert d.sup.next_deadline() is None
    assert d.advance(86400) == []
    assert (d.state(), d.status.restarts) == (State.FAILED, 4)
    assert open_incident(d).cause == d.cause


@pytest.mark.parametrize(("every", "trips"), [(70.0, True), (75.0, True), (80.0, False)])
def test_breaker_counts_crashes_in_its_window(every: float, trips: bool) -> None:
    d = in_phase("connected")
    for crash in range(1, 6):
        d.idle(crash * every - d.now)
        d.exited(1)
        if crash < 5:
            assert (d.state(), d.status.attempt) == (State.CRASHED, 1)
            d.next_tick()
            d.connect()
    assert d.state() is (State.FAILED if trips else State.CRASHED)


CEILINGS = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


@pytest.mark.parametrize("rng", [SHORTEST, 0.5, LONGEST])
def test_restart_backoff_grows_to_its_cap(rng: float) -> None:
    d = Driver(replace(Policy(), crash_loop_limit=100), rng)
    d.start()
    delays = []
    for _ in CEILINGS:
        crash_at_once(d)
        crashed_at = d.now
        d.next_tick()
        delays.append(d.now - crashed_at)
    assert delays == pytest.approx([c / 2 * (1 + rng) for c in CEILINGS])


@pytest.mark.parametrize(("connected_for", "backoff_attempt"), [(59.0, 4), (60.0, 1)])
def test_backoff_resets_after_the_stable_period(connected_for: float, backoff_attempt: int) -> None:
    d = Driver(rng=SHORTEST)
    d.start()
    for _ in range(3):
        crash_at_once(d)
        d.next_tick()
    d.connect()
    d.idle(connected_for)
    assert d.exited(1) == [CloseStream(1)]
    # The user is told the new incident's own attempt; the backoff remembers the ones before.
    assert (d.state(), d.status.attempt) == (State.CRASHED, 1)
    assert retry_in(d) == CEILINGS[backoff_attempt - 1] / 2


def test_reconnect_backoff_grows_to_its_cap() -> None:
    d = in_phase("connected", replace(Policy(), hung_restart_after_s=3600.0), rng=SHORTEST)
    delays = []
    for _ in range(12):
        d.closed(causes.connection_refused(URL))
        closed_at = d.now
        assert d.next_tick() == [OpenStream(d.stream_gen)]
        delays.append(d.now - closed_at)
    assert delays == pytest.approx([min(0.1 * 2**n, 15.0) for n in range(12)])
    assert (d.state(), d.status.attempt, d.status.restarts) == (State.RECONNECTING, 12, 0)
    d.opened()
    d.closed(causes.stream_closed())
    assert (d.state(), d.status.attempt) == (State.RECONNECTING, 1)
    assert retry_in(d) == pytest.approx(0.1)
    assert d.cause.text == causes.stream_closed().text


# -- the heartbeat watchdog ----------------------------------------------------------------------


def test_missing_heartbeats_stall_the_stream_and_it_reconnects() -> None:
    d = in_phase("connected", rng=LONGEST)
    d.idle(100)
    assert d.sup.next_deadline() == 125.0
    assert d.advance(25) == [CloseStream(1)]
    assert d.state() is State.STALLED
    assert d.cause == causes.heartbeat_missed(25.0)
    assert d.cause.text == "no heartbeat for 25 s: the event stream stalled"
    assert d.status.attempt == 1
    assert 0.0 < retry_in(d) <= 0.25
    assert d.next_tick() == [OpenStream(2)]
    assert d.state() is State.STALLED
    d.now += 0.05
    assert d.opened() == [Resync(d.now - 100.0)]
    assert d.state() is State.CONNECTED
    assert d.status.incidents == (
        Incident(125.0, causes.heartbeat_missed(25.0), closed_at=d.now, recovered=True),
    )


@pytest.mark.parametrize("every", [10.0, 24.0])
def test_a_day_of_heartbeats_never_touches_an_idle_server(every: float) -> None:
    d = in_phase("connected")
    assert d.idle(86400, every) == []
    assert d.states == [State.STOPPED, State.STARTING, State.CONNECTED]
    status = d.status
    assert (status.restarts, status.incidents, status.uptime_s) == (0, (), 86400)
    assert d.log == [
        (0.0, Spawn(1)),
        (0.0, CheckReadiness(1)),
        (0.0, OpenStream(1)),
        (0.0, Resync(None)),
    ]


def test_a_stall_that_lasts_is_a_hung_server() -> None:
    d = in_phase("connected", rng=SHORTEST)
    effects = d.advance(60)
    assert effects == [
        CloseStream(1),
        OpenStream(2),
        CloseStream(2),
        OpenStream(3),
        CloseStream(3),
        TERMINATE_1,
    ]
    assert [at for at, _ in d.logged(OpenStream)][1:] == pytest.approx([25.1, 50.3])
    assert (d.state(), d.cause) == (
        State.CRASHED,
        causes.server_hung(60.0, causes.heartbeat_missed(25.0)),
    )
    assert d.cause.text == (
        "server unresponsive for 60 s (no heartbeat for 25 s: the event stream stalled): "
        "restarting it"
    )
    assert open_incident(d).opened_at == 25.0
    assert d.states[-3:] == [State.CONNECTED, State.STALLED, State.CRASHED]
    d.now += 0.2
    assert d.exited(-15) == []
    assert d.advance(1.0) == [Spawn(2)]
    assert d.status.restarts == 1


def test_a_hung_server_that_ignores_sigterm_is_respawned_when_it_exits() -> None:
    d = in_phase("connected", rng=SHORTEST)
    d.advance(60)
    assert d.advance(5) == []
    assert (d.state(), d.status.restarts) == (State.STARTING, 1)
    assert d.exited(-9) == [Spawn(2)]


def test_refused_reconnects_during_a_stall_still_end_in_a_restart() -> None:
    d = in_phase("stalled")
    for _ in range(3):
        d.next_tick()
        d.closed(causes.connection_refused(URL))
        assert d.state() is State.STALLED
    assert d.advance(60)[-1] == TERMINATE_1
    assert (d.cause.kind, d.cause.facts["seconds"]) == (CauseKind.SERVER_HUNG, 60.0)


@pytest.mark.parametrize(
    "cause",
    [causes.http_error(500, "Internal Server Error"), causes.connection_refused(URL)],
)
def test_a_stream_that_keeps_failing_ends_in_a_restart(cause: Cause) -> None:
    d = in_phase("connected", rng=SHORTEST)
    d.closed(cause)
    while d.state() is State.RECONNECTING:
        effects = d.next_tick()
        if effects == [OpenStream(d.stream_gen)]:
            d.closed(cause)
    assert d.now == pytest.approx(60.0)
    assert d.state() is State.CRASHED
    assert d.cause == causes.server_hung(60.0, cause)
    assert d.logged(Terminate)


# -- startup -------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["starting", "listening"])
def test_startup_timeout_terminates_and_restarts(phase: str) -> None:
    d = in_phase(phase)
    assert d.advance(59.9) == []
    assert d.advance(0.1) == [TERMINATE_1]
    assert (d.state(), d.cause) == (State.CRASHED, causes.startup_timeout(60.0))
    assert d.exited(-15) == []
    assert d.advance(1.0) == [Spawn(2)]
    d.connect()
    assert d.status.incidents[-1].recovered


def test_the_startup_timeout_counts_from_the_process_not_from_the_spawn_asked_for() -> None:
    """The engine may wait before it starts the process (the front door taking the public port,
    a leftover server stopping): a server started 59.5 s after its spawn was asked for has the
    whole timeout to start (it was terminated 0.5 s after its start)."""
    d = Driver()
    assert d.start() == [Spawn(1)]
    d.now = 59.5
    assert d.spawned() == []
    assert d.advance(59.9) == []
    assert d.state() is State.STARTING
    assert d.advance(0.1) == [TERMINATE_1]
    assert d.cause == causes.startup_timeout(60.0)


def test_a_spawn_that_never_starts_a_process_still_times_out() -> None:
    d = Driver()
    assert d.start() == [Spawn(1)]
    assert d.advance(60.0) == [TERMINATE_1]
    assert d.cause == causes.startup_timeout(60.0)


def test_health_failures_are_retried_until_the_startup_timeout() -> None:
    d = in_phase("starting")
    d.now = 1.0
    assert d.listening() == [CheckReadiness(1)]
    while d.state() is State.STARTING:
        assert d.not_ready() == []
        effects = d.next_tick()
    checks = [at for at, _ in d.logged(CheckReadiness)]
    assert checks == [1.0 + 0.5 * n for n in range(118)]
    assert (d.now, effects) == (60.0, [TERMINATE_1])
    assert d.cause == causes.startup_timeout(60.0, causes.connection_refused(URL))


def test_healthy_after_health_failures_connects() -> None:
    d = in_phase("listening")
    d.not_ready()
    assert d.next_tick() == [CheckReadiness(1)]
    assert d.ready() == [OpenStream(1)]
    assert d.sup.next_deadline() == d.now + 25.0


def test_exit_while_a_health_retry_is_pending_leaves_no_stale_deadline() -> None:
    d = in_phase("listening")
    d.not_ready()
    d.now = 0.2
    assert d.exited(1) == []
    assert d.sup.next_deadline() == d.status.next_retry_at
    assert d.next_tick() == [Spawn(2)]


@pytest.mark.parametrize("version", ["2.0.0", "v3.1.0", "garbage", ""])
def test_unsupported_version_gives_up(version: str) -> None:
    d = in_phase("listening")
    assert d.ready(version) == [TERMINATE_1]
    assert (d.state(), d.status.version) == (State.FAILED, version)
    assert d.cause == causes.unsupported_version(version, "1.x")
    assert d.sup.next_deadline() is None
    assert d.exited(-15) == []
    assert d.advance(86400) == []
    assert d.state() is State.FAILED


@pytest.mark.parametrize(
    "cause",
    [causes.binary_not_found(["/usr/bin/opencode"]), causes.not_executable("/opt/opencode")],
)
def test_fatal_spawn_failures_give_up_without_retry(cause: Cause) -> None:
    d = Driver()
    d.start()
    assert d.spawn_failed(cause) == []
    assert (d.state(), d.cause, d.status.attempt) == (State.FAILED, cause, 0)
    assert open_incident(d).cause == cause
    assert d.sup.next_deadline() is None
    assert d.advance(86400) == []


def test_wrong_password_restarts_the_server() -> None:
    d = in_phase("connected")
    d.now = 5.0
    assert d.closed(causes.wrong_password()) == [TERMINATE_1]
    assert (d.state(), d.cause) == (State.CRASHED, causes.wrong_password())
    assert d.exited(-15) == []
    assert d.advance(1.0) == [Spawn(2)]


# -- the user ------------------------------------------------------------------------------------

STOP_EFFECTS: dict[str, list[Effect]] = {
    "fresh": [],
    "starting": [TERMINATE_1],
    "listening": [TERMINATE_1],
    "connecting": [CloseStream(1), TERMINATE_1],
    "connected": [CloseStream(1), TERMINATE_1],
    "reconnecting": [TERMINATE_1],
    "stalled": [TERMINATE_1],
    "crashed": [],
    "failed": [],
    "failed_running": [],
    "stopping": [],
    "stopped": [],
    "respawned": [Terminate(2, GRACE)],
    "reconnected": [CloseStream(2), TERMINATE_1],
}


def test_stop_table_covers_every_phase() -> None:
    assert set(STOP_EFFECTS) == set(PHASES)


@pytest.mark.parametrize("phase", PHASES)
def test_stop_ends_everything(phase: str) -> None:
    d = in_phase(phase)
    d.now += 1.0
    was_open = d.status.open_incident
    assert d.stop() == STOP_EFFECTS[phase]
    assert (d.state(), d.status.cause, d.sup.next_deadline()) == (State.STOPPED, None, None)
    assert d.exited(-15) == []
    assert d.advance(86400) == []
    assert d.state() is State.STOPPED
    assert d.status.open_incident is None
    if was_open is not None:
        closed = replace(was_open, closed_at=d.now - 86400, recovered=False)
        assert d.status.incidents[-1] == closed


START_SPAWNS = {"fresh": 1, "failed": 2, "failed_running": 2, "stopping": 2, "stopped": 2}


@pytest.mark.parametrize("phase", START_SPAWNS)
def test_start_when_stopped_or_failed(phase: str) -> None:
    d = in_phase(phase)
    d.start()
    d.send(Exited(START_SPAWNS[phase] - 1, -15))
    assert d.logged(Spawn)[-1][1] == Spawn(START_SPAWNS[phase])
    assert (d.state(), d.status.attempt) == (State.STARTING, 0)
    d.connect()
    assert all(i.recovered for i in d.status.incidents)


# Like a stop, except that whatever is not running any more starts at once.
RESTART_EFFECTS: dict[str, list[Effect]] = {
    **STOP_EFFECTS,
    "fresh": [Spawn(1)],
    "crashed": [Spawn(2)],
    "failed": [Spawn(2)],
    "stopped": [Spawn(2)],
}


@pytest.mark.parametrize("phase", PHASES)
def test_restart_terminates_then_spawns(phase: str) -> None:
    d = in_phase(phase)
    gen = d.proc_gen
    assert d.restart() == RESTART_EFFECTS[phase]
    assert d.state() is State.STARTING
    d.send(Exited(gen, -15))
    assert d.logged(Spawn)[-1][1] == Spawn(gen + 1)
    assert (d.status.attempt, d.sup.next_deadline()) == (0, d.now + 60.0)
    d.connect()


def test_restart_while_connected_resyncs_the_gap() -> None:
    d = in_phase("connected")
    d.now = 10.0
    d.restart()
    d.now = 10.5
    assert d.exited(-15) == [Spawn(2)]
    d.now = 13.0
    assert d.connect()[-1] == Resync(3.0)
    assert d.status.incidents == ()


@pytest.mark.parametrize(("then", "effects"), [("stop", []), ("restart", [Spawn(2)])])
def test_spawn_failure_after_a_stop_is_no_crash(then: str, effects: list[Effect]) -> None:
    d = Driver()
    d.start()
    assert getattr(d, then)() == [TERMINATE_1]
    assert d.spawn_failed(PORT_IN_USE) == effects
    assert (d.status.incidents, d.status.attempt) == ((), 0)
    if then == "stop":
        assert (d.state(), d.sup.next_deadline()) == (State.STOPPED, None)
        assert d.advance(86400) == []


def test_spawn_failure_after_a_startup_timeout_is_not_a_second_crash() -> None:
    d = Driver(rng=SHORTEST)
    d.start()
    assert d.advance(60) == [TERMINATE_1]
    assert d.spawn_failed(PORT_IN_USE) == []
    assert (d.state(), d.cause, d.status.attempt) == (State.CRASHED, causes.startup_timeout(60), 1)
    assert retry_in(d) == 0.5


# -- policy, history, status ---------------------------------------------------------------------


def test_set_policy_changes_the_heartbeat_timeout() -> None:
    d = in_phase("connected")
    d.sup.set_policy(replace(Policy(), heartbeat_timeout_s=5.0))
    assert d.sup.next_deadline() == 5.0
    assert d.advance(5.0) == [CloseStream(1)]
    assert d.cause == causes.heartbeat_missed(5.0)


def test_set_policy_changes_the_breaker_and_backoff() -> None:
    d = Driver(rng=SHORTEST)
    d.start()
    crash_at_once(d)
    d.sup.set_policy(replace(Policy(), restart_min_s=10.0, crash_loop_limit=3))
    assert d.next_tick() == [Spawn(2)]
    crash_at_once(d)
    assert (d.state(), retry_in(d)) == (State.CRASHED, 10.0)
    d.next_tick()
    crash_at_once(d)
    assert d.cause == causes.crash_loop(3, 300.0, EXIT_1)


def test_set_policy_changes_the_startup_timeout() -> None:
    d = in_phase("starting")
    d.sup.set_policy(replace(Policy(), startup_timeout_s=5.0))
    assert d.advance(5.0) == [TERMINATE_1]
    assert d.cause.text.startswith("startup timed out after 5 s")


def test_history_keeps_the_last_incidents() -> None:
    d = in_phase("connected", rng=SHORTEST)
    for _ in range(HISTORY + 10):
        d.closed(causes.stream_closed())
        d.next_tick()
        d.opened()
    incidents = d.status.incidents
    assert len(incidents) == HISTORY
    assert all(i.recovered and i.duration(0) == pytest.approx(0.1) for i in incidents)
    assert incidents[-1].closed_at == d.now


@pytest.mark.parametrize(
    ("state", "label"),
    [
        (State.STOPPED, "Stopped"),
        (State.STARTING, "Starting"),
        (State.CONNECTED, "Connected"),
        (State.RECONNECTING, "Reconnecting"),
        (State.STALLED, "Stalled"),
        (State.CRASHED, "Crashed, restarting"),
        (State.FAILED, "Failed"),
    ],
)
def test_state_label(state: State, label: str) -> None:
    assert state.label == label


def test_status_times() -> None:
    d = in_phase("crashed")
    status = d.status
    assert status.next_retry_at is not None
    late = replace(status, now=status.next_retry_at + 5.0)
    assert late.next_retry_in_s == 0.0
    assert (late.uptime_s, late.since_last_event_s) == (None, late.now)
    incident = open_incident(d)
    assert (incident.is_open, incident.duration(7.0)) == (True, 7.0)


def test_a_wrong_password_on_the_health_check_restarts_the_server() -> None:
    d = in_phase("listening")
    effects = d.send(NotReady(d.proc_gen, causes.wrong_password()))
    assert effects == [TERMINATE_1]
    assert (d.state(), d.cause) == (State.CRASHED, causes.wrong_password())

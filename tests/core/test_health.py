"""The health watch: memory limit (and one too low to restart for), OOM attribution, wedged
requests, stuck turns, updates."""

from __future__ import annotations

import signal
from dataclasses import replace

import pytest

from tests.core.driver import PID, Driver
from tests.factories import make_status
from tray.core import causes, present, report
from tray.core.causes import CauseKind, OutOfMemory
from tray.core.messages import Exited, RestartFor, Spawn, Terminate
from tray.core.server_health import (
    MB,
    HealthPolicy,
    HealthStatus,
    HealthWatch,
    MemoryLimitTooLowNotice,
    MemorySample,
    Notices,
    RestartServer,
    StuckNotice,
    StuckTurn,
    Unstuck,
    UpdateNotice,
)
from tray.core.status import State
from tray.generations.events import ServerEvent
from tray.generations.v1 import read

GB = 1024 * MB
RAM = 16 * GB
OTHER_PID = 777


def sample(mb: float, available_gb: float = 8, oom_kills: int | None = None) -> MemorySample:
    return MemorySample(int(mb * MB), RAM, int(available_gb * GB), oom_kills)


def watch(**policy: float) -> HealthWatch:
    chosen = {"memory_limit_mb": 4096, "memory_grace_s": 600.0, "stuck_after_s": 600.0}
    health = HealthWatch(HealthPolicy(**{**chosen, **policy}))  # type: ignore[arg-type]
    health.server(PID, "1.18.33")
    return health


def busy_event(session: str) -> ServerEvent:
    return read("session.status", {"sessionID": session, "status": {"type": "busy"}})


def work(health: HealthWatch, now: float = 0.0) -> None:
    """The running server did some work: an event about a session (here one created)."""
    health.stream_event(
        read("session.created", {"sessionID": "ses_w", "info": {"id": "ses_w"}}), now
    )


# -- memory ----------------------------------------------------------------------------------------


def test_memory_and_its_peak_are_shown_for_the_running_server() -> None:
    health = watch()
    assert health.status().memory_mb is None
    health.sampled(PID, sample(900))
    health.sampled(PID, sample(700))
    shown = health.status()
    assert (shown.memory_mb, shown.memory_peak_mb, shown.memory_limit_mb) == (700, 900, 4096)


def test_an_empty_sample_of_a_dying_server_keeps_the_last_size() -> None:
    health = watch(memory_limit_mb=0)
    health.sampled(PID, sample(20_000))
    health.sampled(PID, sample(0))
    assert health.status().memory_mb == 20_000
    assert health.exit_evidence(PID, None) == OutOfMemory(20_000, kernel_recorded=False)


def test_a_new_server_starts_its_peak_afresh_and_a_stale_sample_is_ignored() -> None:
    health = watch()
    health.sampled(PID, sample(3000))
    health.server(OTHER_PID, None)
    health.sampled(PID, sample(5000))
    assert health.status().memory_mb is None
    health.sampled(OTHER_PID, sample(300))
    assert health.status().memory_peak_mb == 300
    health.server(None, None)
    assert health.status().memory_mb is None


def test_over_the_limit_and_idle_restarts_at_once_with_its_cause() -> None:
    health = watch()
    work(health)
    health.sampled(PID, sample(4000))
    assert health.decide(True, (), 0.0) == []
    health.sampled(PID, sample(4403))
    [decision] = health.decide(True, (), 1.0)
    assert decision.pid == PID
    assert decision.cause.kind is CauseKind.MEMORY_LIMIT
    assert decision.cause.text == "restarted: the server used 4.3 GB (limit 4 GB)"
    assert decision.cause.facts == {"memory_mb": 4403, "limit_mb": 4096, "waited_s": None}
    assert health.decide(True, (), 2.0) == [], "asked once per server"


def test_over_the_limit_waits_for_busy_sessions_then_restarts_when_they_end() -> None:
    health = watch()
    health.sampled(PID, sample(5000))
    assert health.decide(True, ("ses_a",), 0.0) == []
    pending = health.status().pending_restart
    assert pending is not None
    assert pending.kind is CauseKind.MEMORY_LIMIT
    assert health.decide(True, ("ses_a",), 300.0) == []
    [decision] = health.decide(True, (), 301.0)
    assert decision.cause.facts["waited_s"] is None
    assert health.status().pending_restart is None


def test_over_the_limit_past_the_grace_period_restarts_even_when_busy() -> None:
    health = watch(memory_grace_s=600)
    health.sampled(PID, sample(5000))
    assert health.decide(True, ("ses_a",), 100.0) == []
    assert health.decide(True, ("ses_a",), 699.0) == []
    [decision] = health.decide(True, ("ses_a",), 700.0)
    assert decision.cause.facts["waited_s"] == 600
    assert decision.cause.text.endswith("(limit 4 GB); busy sessions waited for 10 min")


def test_back_under_the_limit_nothing_is_pending_and_the_grace_starts_again() -> None:
    health = watch(memory_grace_s=600)
    health.sampled(PID, sample(5000))
    health.decide(True, ("ses_a",), 0.0)
    health.sampled(PID, sample(3000))
    assert health.decide(True, ("ses_a",), 500.0) == []
    assert health.status().pending_restart is None
    health.sampled(PID, sample(5000))
    assert health.decide(True, ("ses_a",), 700.0) == []
    assert health.decide(True, ("ses_a",), 1299.0) == []
    assert len(health.decide(True, ("ses_a",), 1300.0)) == 1


def test_no_limit_never_restarts_for_memory() -> None:
    health = watch(memory_limit_mb=0)
    health.sampled(PID, sample(30000))
    assert health.decide(True, (), 0.0) == []
    assert health.status().memory_limit_mb == 0


def test_nothing_is_restarted_while_not_connected_or_without_a_server() -> None:
    health = watch()
    health.sampled(PID, sample(5000))
    assert health.decide(False, (), 0.0) == []
    health.server(None, None)
    assert health.decide(True, (), 1.0) == []


def test_the_limit_is_read_from_the_current_policy() -> None:
    health = watch(memory_limit_mb=0)
    work(health)
    health.sampled(PID, sample(5000))
    assert health.decide(True, (), 0.0) == []
    health.policy = replace(health.policy, memory_limit_mb=4096)
    assert len(health.decide(True, (), 1.0)) == 1


# -- a memory limit too low to restart for ---------------------------------------------------------


def test_a_fresh_server_over_the_limit_is_not_restarted_and_the_limit_is_said_too_low() -> None:
    health = watch(memory_limit_mb=300)
    for now, (mb, needed) in enumerate([(412, 412), (430, 430), (420, 430)]):
        health.sampled(PID, sample(mb))
        assert health.decide(True, (), float(now)) == []
        shown = health.status()
        assert shown.pending_restart is None
        assert (shown.memory_limit_mb, shown.memory_limit_too_low_mb) == (300, needed)


def test_a_fresh_server_under_the_limit_is_not_said_too_low() -> None:
    health = watch(memory_limit_mb=300)
    health.sampled(PID, sample(250))
    assert health.decide(True, (), 0.0) == []
    assert health.status().memory_limit_too_low_mb is None


@pytest.mark.parametrize("how", ["busy", "session event"])
def test_a_server_that_worked_and_grew_over_the_limit_is_restarted(how: str) -> None:
    health = watch(memory_limit_mb=300, memory_grace_s=600)
    health.sampled(PID, sample(250))
    assert health.decide(True, (), 0.0) == []
    if how == "busy":
        assert health.decide(True, ("ses_a",), 1.0) == []
    else:
        health.stream_event(read("message.updated", {"info": {"sessionID": "ses_a"}}), 1.0)
    health.sampled(PID, sample(350))
    [restart] = health.decide(True, (), 2.0)
    assert restart == RestartServer(PID, causes.memory_limit(350, 300))
    assert health.status().memory_limit_too_low_mb is None


def test_busy_grace_is_unchanged_for_a_server_that_works() -> None:
    health = watch(memory_limit_mb=300, memory_grace_s=600)
    health.sampled(PID, sample(350))
    assert health.decide(True, ("ses_a",), 0.0) == []
    pending = health.status().pending_restart
    assert pending is not None
    assert pending.kind is CauseKind.MEMORY_LIMIT
    assert health.status().memory_limit_too_low_mb is None, "busy at its first look: not fresh"
    [restart] = health.decide(True, ("ses_a",), 600.0)
    assert restart.cause.facts["waited_s"] == 600


def test_events_without_a_session_are_no_work() -> None:
    health = watch(memory_limit_mb=300)
    health.stream_event(read("server.heartbeat", {}), 0.0)
    health.stream_event(read("installation.update-available", {"version": "9.9.9"}), 0.0)
    health.stream_event(read("session.created", {"info": {"id": "ses_x"}}), 0.0)  # no sessionID
    health.sampled(PID, sample(412))
    assert health.decide(True, (), 1.0) == []
    assert health.status().memory_limit_too_low_mb == 412


def _ticks(
    health: HealthWatch, fresh_mb: float, worked_mb: float, n: int, fresh: bool = True
) -> list[RestartServer]:
    """`n` health ticks of a supervisor that restarts as told (from the server with pid PID,
    `fresh` or not): a new server is `fresh_mb` at its first tick, then does some work (a
    session event) and is `worked_mb` from then on."""
    restarts: list[RestartServer] = []
    pid = PID
    for tick in range(n):
        now = float(tick)
        health.sampled(pid, sample(fresh_mb if fresh else worked_mb))
        decided = health.decide(True, (), now)
        restarts += decided
        if decided:
            pid, fresh = pid + 1, True
            health.server(pid, "1.18.33")
        elif fresh:
            fresh = False
            work(health, now)
    return restarts


def test_after_a_memory_restart_a_fresh_server_over_the_limit_is_not_restarted() -> None:
    """The loop the measurement found (a restart at every tick) is broken after one restart:
    the server that worked and grew is restarted; its successor is over the limit fresh."""
    health = watch(memory_limit_mb=500)
    work(health)
    restarts = _ticks(health, fresh_mb=520, worked_mb=900, n=10, fresh=False)
    assert restarts == [RestartServer(PID, causes.memory_limit(900, 500))]
    shown = health.status()
    assert (shown.memory_limit_too_low_mb, shown.memory_mb, shown.pending_restart) == (
        520,
        900,
        None,
    ), "the successor worked and grew too, and is not restarted either"


def test_servers_over_the_limit_from_the_start_are_never_restarted() -> None:
    health = watch(memory_limit_mb=300)
    assert _ticks(health, fresh_mb=412, worked_mb=600, n=10) == []
    assert health.status().memory_limit_too_low_mb == 412


def test_a_server_that_worked_is_not_restarted_while_the_limit_is_too_low() -> None:
    health = watch(memory_limit_mb=300)
    health.sampled(PID, sample(412))
    health.decide(True, (), 0.0)
    health.server(OTHER_PID, "1.18.33")  # restarted by the user, say
    work(health, 1.0)
    health.sampled(OTHER_PID, sample(2000))
    assert health.decide(True, (), 2.0) == []
    assert health.decide(True, ("ses_a",), 3.0) == []
    assert health.status().pending_restart is None
    assert health.status().memory_limit_too_low_mb == 412


def test_a_limit_raised_above_the_fresh_size_restarts_again() -> None:
    health = watch(memory_limit_mb=300)
    health.sampled(PID, sample(412))
    health.decide(True, (), 0.0)
    work(health, 1.0)
    health.sampled(PID, sample(600))
    health.policy = replace(health.policy, memory_limit_mb=400)  # still below 412
    assert health.decide(True, (), 2.0) == []
    assert health.status().memory_limit_too_low_mb == 412
    health.policy = replace(health.policy, memory_limit_mb=412)  # at it: still too low
    assert health.decide(True, (), 3.0) == []
    health.policy = replace(health.policy, memory_limit_mb=500)
    assert health.status().memory_limit_too_low_mb is None
    [restart] = health.decide(True, (), 4.0)
    assert restart.cause == causes.memory_limit(600, 500)


def test_a_fresh_server_under_the_limit_clears_it() -> None:
    health = watch(memory_limit_mb=300)
    health.sampled(PID, sample(412))
    health.decide(True, (), 0.0)
    health.server(OTHER_PID, "1.18.33")
    health.sampled(OTHER_PID, sample(280))  # a lighter server (another version, say)
    assert health.decide(True, (), 1.0) == []
    assert health.status().memory_limit_too_low_mb is None
    work(health, 2.0)
    health.sampled(OTHER_PID, sample(350))
    [restart] = health.decide(True, (), 3.0)
    assert restart.cause == causes.memory_limit(350, 300)


def test_the_server_found_too_big_dipping_under_the_limit_clears_nothing() -> None:
    health = watch(memory_limit_mb=300)
    for now, (mb, needed) in enumerate([(301, 301), (299, 301), (302, 302), (298, 302)]):
        health.sampled(PID, sample(mb))
        assert health.decide(True, (), float(now)) == []
        assert health.status().memory_limit_too_low_mb == needed


def test_a_server_not_yet_connected_is_not_weighed() -> None:
    health = watch(memory_limit_mb=300)
    health.sampled(PID, sample(412))
    health.decide(True, (), 0.0)
    health.server(OTHER_PID, None)
    health.sampled(OTHER_PID, sample(120))  # still loading
    assert health.decide(False, (), 1.0) == []
    assert health.status().memory_limit_too_low_mb == 412
    health.sampled(OTHER_PID, sample(410))
    assert health.decide(True, (), 2.0) == []
    assert health.status().memory_limit_too_low_mb == 412


def test_no_limit_is_never_too_low_and_the_fresh_size_is_kept_for_when_it_comes_back() -> None:
    health = watch(memory_limit_mb=0)
    health.sampled(PID, sample(412))
    health.decide(True, (), 0.0)
    assert health.status().memory_limit_too_low_mb is None
    health.policy = replace(health.policy, memory_limit_mb=300)
    health.decide(True, (), 1.0)
    assert health.status().memory_limit_too_low_mb == 412
    health.policy = replace(health.policy, memory_limit_mb=0)
    assert health.status().memory_limit_too_low_mb is None
    health.policy = replace(health.policy, memory_limit_mb=350)
    assert health.status().memory_limit_too_low_mb == 412


def test_over_a_limit_too_low_is_no_evidence_of_the_oom_killer() -> None:
    health = watch(memory_limit_mb=300)
    health.sampled(PID, sample(412))
    health.decide(True, (), 0.0)
    assert health.exit_evidence(PID, None) is None
    assert health.exit_evidence(PID, 0) is None
    counted = watch(memory_limit_mb=300)
    counted.sampled(PID, sample(412, oom_kills=1))
    counted.decide(True, (), 0.0)
    assert counted.exit_evidence(PID, 2) == OutOfMemory(412, kernel_recorded=True)


def test_one_notice_each_time_the_limit_is_found_too_low() -> None:
    notices = Notices()
    too_low = HealthStatus(memory_limit_mb=300, memory_limit_too_low_mb=412.0)
    assert notices.new(too_low) == [MemoryLimitTooLowNotice(300, 412.0)]
    assert notices.new(too_low) == []
    assert notices.new(replace(too_low, memory_limit_too_low_mb=430.0)) == [], "same incident"
    assert notices.new(replace(too_low, memory_limit_mb=350)) == [], "still too low"
    assert notices.new(HealthStatus(memory_limit_mb=500)) == []
    again = HealthStatus(memory_limit_mb=400, memory_limit_too_low_mb=520.0)
    assert notices.new(again) == [MemoryLimitTooLowNotice(400, 520.0)]
    assert notices.new(again) == []


def test_the_watch_makes_one_notice_over_many_ticks() -> None:
    health = watch(memory_limit_mb=300)
    notices = Notices()
    found = []
    for now in range(10):
        health.sampled(PID, sample(412 + now))
        health.decide(True, (), float(now))
        found += notices.new(health.status())
    assert found == [MemoryLimitTooLowNotice(300, 412.0)]


# -- the out-of-memory killer ----------------------------------------------------------------------


def test_a_kernel_oom_record_since_the_start_is_evidence() -> None:
    health = watch(memory_limit_mb=0)
    health.sampled(PID, sample(2000, oom_kills=3))
    health.sampled(PID, sample(2100, oom_kills=3))
    assert health.exit_evidence(PID, 3) is None
    assert health.exit_evidence(PID, 4) == OutOfMemory(2100, kernel_recorded=True)


def test_memory_high_is_evidence_without_a_kernel_record() -> None:
    health = watch(memory_limit_mb=4096)
    health.sampled(PID, sample(4500))
    assert health.exit_evidence(PID, None) == OutOfMemory(4500, kernel_recorded=False)


@pytest.mark.parametrize(
    ("mb", "available_gb", "high"),
    [(8 * 1024, 8, True), (8 * 1024 - 1, 8, False), (1000, 0.8, True), (1000, 0.9, False)],
)
def test_high_without_a_limit_is_half_the_ram_or_a_machine_nearly_out(
    mb: float, available_gb: float, high: bool
) -> None:
    health = watch(memory_limit_mb=0)
    health.sampled(PID, sample(mb, available_gb))
    assert (health.exit_evidence(PID, None) is not None) is high


def test_no_evidence_without_samples_or_for_another_server() -> None:
    health = watch()
    assert health.exit_evidence(PID, 5) is None
    health.sampled(PID, sample(5000))
    assert health.exit_evidence(OTHER_PID, 5) is None
    unknown_ram = HealthWatch(HealthPolicy(memory_limit_mb=0))
    unknown_ram.server(PID, None)
    unknown_ram.sampled(PID, MemorySample(5000 * MB, 0, 0))
    assert unknown_ram.exit_evidence(PID, None) is None


def test_the_oom_wording_names_the_killer_and_the_last_size() -> None:
    kernel = causes.process_exited(-9, [], OutOfMemory(4403, kernel_recorded=True))
    assert kernel.kind is CauseKind.KILLED_BY_SIGNAL
    assert kernel.text == (
        "server killed by the out-of-memory killer (SIGKILL; the kernel recorded an OOM kill), "
        "last measured at 4.3 GB"
    )
    assert kernel.facts["out_of_memory"] is True
    assert kernel.facts["memory_mb"] == 4403
    assert kernel.facts["evidence"] == "memory.events oom_kill"
    assert kernel.facts["signal"] == "SIGKILL"
    high = causes.process_exited(137, [], OutOfMemory(None, kernel_recorded=False))
    assert high.text == "server killed by the out-of-memory killer (SIGKILL; memory was high)"
    assert high.facts["evidence"] == "memory high"


def test_the_oom_evidence_words_only_a_sigkill() -> None:
    oom = OutOfMemory(4403, kernel_recorded=True)
    assert causes.process_exited(-signal.SIGTERM, [], oom).text == "server killed by SIGTERM"
    assert causes.process_exited(1, [], oom).kind is CauseKind.EXITED


def test_the_supervisor_words_an_exit_with_oom_evidence() -> None:
    d = Driver()
    d.start()
    d.connect()
    d.send(Exited(d.proc_gen, -9, (), OutOfMemory(5000, kernel_recorded=False)))
    assert d.state() is State.CRASHED
    assert d.cause.text.startswith("server killed by the out-of-memory killer")


@pytest.mark.parametrize(
    ("mb", "text"), [(850, "850 MB"), (1023.6, "1024 MB"), (4096, "4 GB"), (4403, "4.3 GB")]
)
def test_sizes_are_shown_in_mb_then_gb(mb: float, text: str) -> None:
    assert causes.size_text(mb) == text


# -- wedged requests -------------------------------------------------------------------------------


def test_a_probe_that_hangs_while_the_stream_goes_on_is_a_requests_hang() -> None:
    health = watch()
    health.probe_hung(PID, started_at=10.0, now=30.0)
    assert health.decide(True, (), 30.0) == [], "no stream event since the probe was sent"
    health.stream_event(read("server.heartbeat", {}), 15.0)
    health.probe_hung(PID, started_at=10.0, now=30.0)
    [decision] = health.decide(True, ("ses_busy",), 30.0)
    assert decision == RestartServer(PID, causes.requests_hang(20.0, "/global/health"))
    assert decision.cause.text == (
        "requests hang: /global/health got no answer for 20 s while the event stream went on; "
        "restarting the server"
    )


def test_a_hang_of_another_server_is_ignored() -> None:
    health = watch()
    health.stream_event(read("server.heartbeat", {}), 15.0)
    health.probe_hung(OTHER_PID, 10.0, 30.0)
    assert health.decide(True, (), 30.0) == []


def test_a_requests_hang_is_restarted_like_a_hung_server() -> None:
    d = Driver()
    d.start()
    d.connect()
    hang = causes.requests_hang(20, "/global/health")
    effects = d.send(RestartFor(PID, hang))
    assert any(isinstance(e, Terminate) for e in effects)
    assert d.state() is State.CRASHED
    assert d.cause == hang
    d.exited(-15)
    spawns = d.advance(5)
    assert any(isinstance(e, Spawn) for e in spawns)


# -- planned restarts in the supervisor ------------------------------------------------------------


def test_a_planned_restart_terminates_and_respawns_at_once_without_counting_a_crash() -> None:
    d = Driver()
    d.start()
    d.connect()
    limit = causes.memory_limit(4403, 4096)
    for _ in range(d.sup.policy.crash_loop_limit + 2):
        effects = d.send(RestartFor(PID, limit))
        assert [type(e) for e in effects if isinstance(e, Terminate)] == [Terminate]
        assert d.state() is State.STARTING
        assert d.cause == limit
        respawn = d.exited(-15)
        assert any(isinstance(e, Spawn) for e in respawn), "no backoff for a planned restart"
        d.connect()
    status = d.status
    assert status.state is State.CONNECTED
    assert status.restarts == d.sup.policy.crash_loop_limit + 2
    assert status.incidents[-1].cause == limit
    assert status.incidents[-1].recovered


def test_a_restart_for_a_stale_pid_or_a_server_not_ready_is_ignored() -> None:
    d = Driver()
    d.start()
    limit = causes.memory_limit(4403, 4096)
    d.spawned()
    assert d.send(RestartFor(PID, limit)) == [], "still starting"
    d.listening()
    d.ready()
    d.opened()
    assert d.send(RestartFor(OTHER_PID, limit)) == []
    d.stop()
    assert d.send(RestartFor(PID, limit)) == []
    assert d.state() is State.STOPPED


# -- stuck turns -----------------------------------------------------------------------------------


def test_a_busy_session_with_no_event_for_the_limit_is_stuck_until_an_event_comes() -> None:
    health = watch(stuck_after_s=600)
    health.stream_event(busy_event("ses_a"), 0.0)
    health.decide(True, ("ses_a",), 0.0)
    health.decide(True, ("ses_a",), 599.0)
    assert health.status().stuck == ()
    health.decide(True, ("ses_a",), 600.0)
    assert health.status().stuck == (StuckTurn("ses_a", 0.0),)
    assert health.status().stuck_sessions == ("ses_a",)
    assert health.status().stuck[0].silent_for(660.0) == 660.0
    health.stream_event(read("message.part.delta", {"sessionID": "ses_a", "delta": "x"}), 650.0)
    health.decide(True, ("ses_a",), 651.0)
    assert health.status().stuck == ()


def test_events_about_other_sessions_and_heartbeats_do_not_unstick_a_session() -> None:
    health = watch(stuck_after_s=60)
    health.stream_event(busy_event("ses_a"), 0.0)
    health.stream_event(busy_event("ses_b"), 50.0)
    health.stream_event(read("server.heartbeat", {}), 55.0)
    health.decide(True, ("ses_a", "ses_b"), 60.0)
    assert health.status().stuck_sessions == ("ses_a",)
    health.decide(True, ("ses_a", "ses_b"), 110.0)
    assert health.status().stuck_sessions == ("ses_a", "ses_b")


def test_a_session_no_longer_busy_is_no_longer_stuck_and_starts_afresh() -> None:
    health = watch(stuck_after_s=60)
    health.stream_event(busy_event("ses_a"), 0.0)
    health.decide(True, ("ses_a",), 60.0)
    assert health.status().stuck_sessions == ("ses_a",)
    health.decide(True, (), 61.0)
    assert health.status().stuck == ()
    health.decide(True, ("ses_a",), 62.0)  # busy again per REST, no event since
    health.decide(True, ("ses_a",), 121.0)
    assert health.status().stuck == ()
    health.decide(True, ("ses_a",), 122.0)
    assert health.status().stuck == (StuckTurn("ses_a", 62.0),)


def test_a_session_busy_per_rest_without_any_event_counts_from_when_it_was_seen() -> None:
    health = watch(stuck_after_s=60)
    health.decide(True, ("ses_a",), 100.0)
    health.decide(True, ("ses_a",), 159.0)
    assert health.status().stuck == ()
    health.decide(True, ("ses_a",), 160.0)
    assert health.status().stuck == (StuckTurn("ses_a", 100.0),)


def test_a_new_server_forgets_its_predecessors_stuck_turns() -> None:
    health = watch(stuck_after_s=60)
    health.stream_event(busy_event("ses_a"), 0.0)
    health.decide(True, ("ses_a",), 60.0)
    health.server(OTHER_PID, None)
    health.decide(True, ("ses_a",), 61.0)
    assert health.status().stuck == ()
    health.server(None, None)
    health.decide(True, ("ses_a",), 200.0)
    assert health.status().stuck == ()


def test_stuck_turns_never_restart_or_abort_anything() -> None:
    health = watch(stuck_after_s=60)
    health.decide(True, ("ses_a",), 0.0)
    assert health.decide(True, ("ses_a",), 10_000.0) == []


def test_one_notice_per_stuck_session_and_again_only_after_it_came_unstuck() -> None:
    notices = Notices()
    a, b = StuckTurn("ses_a", 0.0), StuckTurn("ses_b", 5.0)
    assert notices.new(HealthStatus(stuck=(a,))) == [StuckNotice(a)]
    assert notices.new(HealthStatus(stuck=(a,))) == []
    assert notices.new(HealthStatus(stuck=(a, b))) == [StuckNotice(b)]
    assert notices.new(HealthStatus(stuck=(b,))) == [Unstuck("ses_a")]
    assert notices.new(HealthStatus(stuck=(a, b))) == [StuckNotice(a)]
    assert notices.new(HealthStatus()) == [Unstuck("ses_a"), Unstuck("ses_b")]
    assert notices.new(HealthStatus()) == []


# -- updates ---------------------------------------------------------------------------------------


def test_an_announced_update_is_shown_and_noticed_once_per_version() -> None:
    health = watch()
    notices = Notices()
    health.stream_event(read("installation.update-available", {"version": "1.19.0"}), 0.0)
    assert health.status().update_available == "1.19.0"
    assert notices.new(health.status()) == [UpdateNotice("1.19.0")]
    health.stream_event(read("installation.update-available", {"version": "1.19.0"}), 1.0)
    assert notices.new(health.status()) == []
    health.stream_event(read("installation.update-available", {"version": ""}), 2.0)
    health.stream_event(read("installation.update-available", {}), 2.0)
    assert health.status().update_available == "1.19.0"
    health.stream_event(read("installation.update-available", {"version": "1.19.1"}), 3.0)
    assert notices.new(health.status()) == [UpdateNotice("1.19.1")]
    health.stream_event(read("installation.update-available", {"version": "1.19.0"}), 4.0)
    assert notices.new(health.status()) == []


def test_a_changed_binary_on_disk_is_restarted_onto_at_the_next_idle_moment() -> None:
    health = watch()
    health.binary_on_disk("/usr/bin/opencode", "1.18.33")
    assert health.decide(True, (), 0.0) == []
    health.binary_on_disk("/usr/bin/opencode", "1.18.34")
    assert health.decide(True, ("ses_a",), 1.0) == [], "never during a busy turn"
    assert health.decide(True, ("ses_a",), 100_000.0) == [], "not even after a long wait"
    pending = health.status().pending_restart
    assert pending == causes.binary_updated("1.18.33", "1.18.34", "/usr/bin/opencode")
    [decision] = health.decide(True, (), 100_001.0)
    assert decision.cause.text == (
        "restarted onto opencode 1.18.34: the binary on disk changed (was 1.18.33)"
    )


def test_a_binary_that_still_differs_after_its_restart_is_not_restarted_again() -> None:
    health = watch()
    health.binary_on_disk("/x/opencode", "1.18.34")
    assert len(health.decide(True, (), 0.0)) == 1
    health.server(OTHER_PID, None)
    health.server(OTHER_PID, "1.18.33")  # the wrapper says one thing, the server another
    assert health.decide(True, (), 10.0) == []
    assert health.status().pending_restart is None
    health.binary_on_disk("/x/opencode", "1.18.35")
    assert len(health.decide(True, (), 20.0)) == 1


def test_an_unknown_running_version_is_never_restarted_for_the_binary() -> None:
    health = HealthWatch(HealthPolicy())
    health.server(PID, None)
    health.binary_on_disk("/x/opencode", "1.18.34")
    assert health.decide(True, (), 0.0) == []


def test_a_requests_hang_comes_before_memory_and_memory_before_the_binary() -> None:
    health = watch()
    health.binary_on_disk("/x/opencode", "1.18.34")
    health.sampled(PID, sample(5000))
    health.stream_event(read("server.heartbeat", {}), 5.0)
    health.probe_hung(PID, 1.0, 21.0)
    [first] = health.decide(True, (), 21.0)
    assert first.cause.kind is CauseKind.REQUESTS_HANG
    other = watch()
    work(other)
    other.binary_on_disk("/x/opencode", "1.18.34")
    other.sampled(PID, sample(5000))
    [second] = other.decide(True, (), 0.0)
    assert second.cause.kind is CauseKind.MEMORY_LIMIT


def test_the_update_note_is_shown() -> None:
    health = watch()
    health.update_finished("update to 1.19.0 failed: no network")
    assert health.status().update_note == "update to 1.19.0 failed: no network"


# -- what people and scripts see -------------------------------------------------------------------


def _shown(**health: object) -> HealthStatus:
    return HealthStatus(**health)  # type: ignore[arg-type]


def test_the_tooltip_shows_memory_stuck_turns_pending_restarts_and_updates() -> None:
    health = _shown(
        memory_mb=4403.0,
        memory_peak_mb=5000.0,
        memory_limit_mb=4096,
        stuck=(StuckTurn("ses_a", 0.0),),
        update_available="1.19.0",
        pending_restart=causes.memory_limit(4403, 4096),
        update_note="updated to 1.19.0",
    )
    status = make_status(now=720.0, version="1.18.33", health=health)
    assert present.health_lines(status) == [
        "Memory 4.3 GB (peak 4.9 GB, limit 4 GB)",
        "Session ses_a stuck: busy with no event for 12 min",
        "Restart when no session is busy: the server uses 4.3 GB (limit 4 GB)",
        "opencode 1.19.0 is available",
        "updated to 1.19.0",
    ]
    assert "Memory 4.3 GB (peak 4.9 GB, limit 4 GB)" in present.tooltip(status)


def test_the_tooltip_says_little_when_little_is_known() -> None:
    assert present.health_lines(make_status()) == []
    just_memory = make_status(health=_shown(memory_mb=300.0))
    assert present.health_lines(just_memory) == ["Memory 300 MB"]
    pending = causes.binary_updated("1.18.33", "1.18.34", "/x")
    waiting = make_status(health=_shown(pending_restart=pending, update_available="1.18.33"))
    assert present.health_lines(replace(waiting, version="1.18.33")) == [
        "Restart when no session is busy: opencode 1.18.34 is on disk (running 1.18.33)"
    ]
    other = make_status(health=_shown(pending_restart=causes.requests_hang(20, "/x")))
    assert present.health_lines(other) == [
        f"Restart when no session is busy: {causes.requests_hang(20, '/x').text}"
    ]


def test_the_tooltip_says_when_the_memory_limit_is_too_low() -> None:
    health = _shown(
        memory_mb=415.0, memory_peak_mb=420.0, memory_limit_mb=300, memory_limit_too_low_mb=412.0
    )
    status = make_status(health=health)
    assert present.health_lines(status) == [
        "Memory 415 MB (peak 420 MB, limit 300 MB)",
        "The memory limit (300 MB) is below what a fresh server needs (412 MB): the server is "
        "not restarted for memory. Raise the limit in Settings.",
    ]
    assert present.health_lines(status)[1] in present.details(status)
    big = _shown(memory_limit_mb=2048, memory_limit_too_low_mb=2500.0)
    assert present.health_lines(make_status(health=big)) == [
        "The memory limit (2 GB) is below what a fresh server needs (2.4 GB): the server is "
        "not restarted for memory. Raise the limit in Settings."
    ]


def test_status_json_says_when_the_memory_limit_is_too_low() -> None:
    health = _shown(memory_mb=415.0, memory_limit_mb=300, memory_limit_too_low_mb=412.34)
    data = report.status_json(make_status(health=health), lambda t: t, "0.1.0", 1)
    assert data["server"]["memory_limit_mb"] == 300
    assert data["server"]["memory_limit_too_low_mb"] == 412.3
    empty = report.status_json(make_status(), lambda t: t, "0.1.0", 1)
    assert empty["server"]["memory_limit_too_low_mb"] is None
    watched = watch(memory_limit_mb=300)
    watched.sampled(PID, sample(412))
    watched.decide(True, (), 0.0)
    status = make_status(health=watched.status())
    assert (
        report.status_json(status, lambda t: t, "0.1.0", 1)["server"]["memory_limit_too_low_mb"]
        == 412.0
    )


def test_status_json_adds_memory_stuck_sessions_and_update_fields() -> None:
    health = _shown(
        memory_mb=812.34,
        memory_peak_mb=900.0,
        memory_limit_mb=4096,
        stuck=(StuckTurn("ses_a", 0.0),),
        update_available="1.19.0",
        binary_version="1.18.33",
        pending_restart=causes.memory_limit(4403, 4096),
    )
    data = report.status_json(make_status(health=health), lambda t: t, "0.1.0", 1)
    assert data["server"]["memory_mb"] == 812.3
    assert data["server"]["memory_peak_mb"] == 900.0
    assert data["server"]["memory_limit_mb"] == 4096
    assert data["sessions"]["stuck"] == ["ses_a"]
    assert data["update"] == {
        "available": "1.19.0",
        "on_disk": "1.18.33",
        "pending_restart": causes.memory_limit(4403, 4096).to_json(),
        "note": None,
    }
    empty = report.status_json(make_status(), lambda t: t, "0.1.0", 1)
    assert empty["server"]["memory_mb"] is None
    assert empty["server"]["memory_limit_mb"] is None
    assert empty["sessions"]["stuck"] == []
    assert empty["update"]["pending_restart"] is None


def test_after_the_stream_was_down_a_busy_session_counts_from_when_it_is_seen_again() -> None:
    health = watch(stuck_after_s=60)
    health.stream_event(busy_event("ses_a"), 0.0)
    health.decide(True, ("ses_a",), 30.0)
    health.decide(False, ("ses_a",), 40.0)
    assert health.status().stuck == ()
    health.decide(True, ("ses_a",), 70.0)
    assert health.status().stuck == ()
    health.decide(True, ("ses_a",), 130.0)
    assert health.status().stuck == (StuckTurn("ses_a", 70.0),)

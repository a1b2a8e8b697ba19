"""The resync after a (re)connect: a failed one is asked again with capped backoff for as long as
its connection lasts, however often it fails."""

from __future__ import annotations

from tests.core.driver import Driver
from tray.core import causes
from tray.core.messages import Resync, Resynced, ResyncFailed
from tray.core.supervisor import Policy

HTTP_500 = causes.http_error(500, "Injected")
CEILING = 1.0  # rng: every delay at its ceiling


def connected_after_a_gap() -> Driver:
    d = Driver(rng=CEILING)
    d.start()
    d.connect()
    d.idle(20)
    d.closed(causes.stream_broken("reset"))
    d.advance(3)
    d.opened()
    return d


def resyncs(d: Driver) -> list[tuple[float, Resync]]:
    return [(at, e) for at, e in d.logged(Resync) if isinstance(e, Resync)]


def fail(d: Driver, attempt: int) -> None:
    assert d.send(ResyncFailed(attempt, HTTP_500)) == []


def test_a_resync_that_fails_many_times_is_asked_again_until_it_succeeds() -> None:
    d = connected_after_a_gap()
    [(_, first)] = resyncs(d)[-1:]
    assert first.attempt == 1
    assert first.gap_s is not None
    delays = []
    for attempt in range(1, 8):  # far more than the 3 tries of old
        failed_at = d.now
        fail(d, attempt)
        d.idle(30, every=5)  # heartbeats: the stream stays up meanwhile
        [(at, again)] = [(at, e) for at, e in resyncs(d) if at > failed_at]
        assert again == Resync(first.gap_s, attempt + 1)  # the same gap, the next try
        delays.append(round(at - failed_at, 6))
    # 1 s doubling, capped at 30 s (rng at the top of the equal-jitter range)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    d.send(Resynced(first.gap_s, ()))
    tries = len(resyncs(d))
    d.idle(600)
    assert len(resyncs(d)) == tries


def test_the_backoff_comes_from_the_policy() -> None:
    d = Driver(Policy(resync_base_s=0.2, resync_max_s=0.5), rng=CEILING)
    d.start()
    d.connect()
    for attempt, delay in ((1, 0.2), (2, 0.4), (3, 0.5), (4, 0.5)):
        fail(d, attempt)
        assert d.sup.next_deadline() == d.now + delay
        d.now += delay
        assert d.tick() == [Resync(None, attempt + 1)]


def test_a_retry_ends_with_its_connection() -> None:
    d = Driver(rng=CEILING)
    d.start()
    d.connect()
    fail(d, 1)
    d.closed(causes.stream_broken("reset"))
    assert not any(isinstance(e, Resync) for e in d.advance(0.9))
    d.advance(30)
    d.opened()
    assert [e.attempt for _, e in resyncs(d)] == [1, 1]  # the new connection starts afresh


def test_a_failure_reported_after_the_connection_ended_is_ignored() -> None:
    d = Driver(rng=CEILING)
    d.start()
    d.connect()
    d.closed(causes.stream_broken("reset"))
    fail(d, 1)
    d.advance(0.3)
    d.opened()
    d.idle(30)
    assert [e.attempt for _, e in resyncs(d)] == [1, 1]


def test_a_stop_drops_the_retry() -> None:
    d = Driver(rng=CEILING)
    d.start()
    d.connect()
    fail(d, 1)
    d.stop()
    assert d.advance(3600) == []

"""Capped exponential backoff with equal jitter, and the crash-loop breaker."""

from __future__ import annotations

import math

import pytest

from tray.core.backoff import Backoff, CrashLoopBreaker

RESTART = Backoff(base_s=1.0, cap_s=60.0)
CEILINGS = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
JITTERS = [0.0, 0.25, 0.5, 0.999999]


@pytest.mark.parametrize("rng", JITTERS)
@pytest.mark.parametrize(("attempt", "ceiling"), list(enumerate(CEILINGS, start=1)))
def test_delay_lies_in_half_to_full_ceiling(attempt: int, ceiling: float, rng: float) -> None:
    delay = RESTART.delay(attempt, lambda: rng)
    assert ceiling / 2 <= delay <= ceiling
    assert delay == pytest.approx(ceiling / 2 * (1 + rng))


def test_extremes_of_jitter() -> None:
    assert RESTART.delay(1, lambda: 0.0) == 0.5
    assert RESTART.delay(3, lambda: 0.0) == 2.0
    assert RESTART.delay(3, lambda: 1.0) == 4.0


@pytest.mark.parametrize("attempt", [0, -1, -1000])
def test_attempts_below_one_count_as_the_first(attempt: int) -> None:
    assert RESTART.delay(attempt, lambda: 0.0) == RESTART.delay(1, lambda: 0.0)


@pytest.mark.parametrize("attempt", [63, 64, 1024, 10**9, 10**18])
def test_huge_attempts_stay_at_the_cap(attempt: int) -> None:
    delay = RESTART.delay(attempt, lambda: 0.999999)
    assert math.isfinite(delay)
    assert 30.0 <= delay <= 60.0


def test_reconnect_backoff_starts_fast() -> None:
    reconnect = Backoff(base_s=0.2, cap_s=30.0)
    assert 0.1 <= reconnect.delay(1, lambda: 0.999999) <= 0.2
    assert reconnect.delay(20, lambda: 0.0) == 15.0


def test_rng_is_called_once_per_delay() -> None:
    calls: list[float] = []

    def rng() -> float:
        calls.append(0.5)
        return 0.5

    RESTART.delay(2, rng)
    assert calls == [0.5]


# -- the breaker ---------------------------------------------------------------------------------


def record_all(breaker: CrashLoopBreaker, times: list[float]) -> list[bool]:
    return [breaker.record(t) for t in times]


@pytest.mark.parametrize(
    ("times", "trips"),
    [
        pytest.param([0, 1, 2, 3, 4], [False] * 4 + [True], id="five-quick"),
        pytest.param([0, 70, 140, 210, 280], [False] * 4 + [True], id="five-in-280s"),
        pytest.param([0, 75, 150, 225, 300], [False] * 4 + [True], id="edge-of-window"),
        pytest.param([0, 80, 160, 240, 320], [False] * 5, id="five-in-320s"),
        pytest.param([0, 80, 160, 240, 320, 330], [False] * 5 + [True], id="sixth-trips"),
        pytest.param([0, 1, 2, 3, 400, 401, 402, 403], [False] * 8, id="two-bursts"),
    ],
)
def test_breaker_window(times: list[float], trips: list[bool]) -> None:
    assert record_all(CrashLoopBreaker(5, 300.0), times) == trips


def test_breaker_count_and_reset() -> None:
    breaker = CrashLoopBreaker(3, 10.0)
    record_all(breaker, [0, 1])
    assert breaker.count() == 2
    assert breaker.record(20) is False
    assert breaker.count() == 1
    breaker.reset()
    assert breaker.count() == 0
    assert record_all(breaker, [21, 22, 23]) == [False, False, True]


def test_breaker_limit_and_window_can_change() -> None:
    breaker = CrashLoopBreaker(5, 300.0)
    record_all(breaker, [0, 1])
    breaker.limit = 3
    assert breaker.record(2) is True
    breaker.window_s = 0.5
    assert breaker.record(3) is False
    assert breaker.count() == 1

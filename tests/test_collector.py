"""The main-thread collector: it collects what the automatic collector would have collected."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from tray.runtime import collector
from tray.runtime.collector import BUSY_TICK_S, IDLE_TICK_S, collect_due, next_tick


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_nothing_is_collected_before_a_threshold_is_reached(thresholds: None) -> None:
    gc.collect()
    gc.set_threshold(10**9, 10, 10)
    assert collect_due() is None


def test_the_youngest_generation_is_collected_once_due_and_frees_cycles(thresholds: None) -> None:
    gc.collect()
    gc.set_threshold(1, 10**6, 10**6)
    Cycle()
    assert collect_due() == 0
    assert gc.get_count()[0] == 0
    assert not any(isinstance(o, Cycle) for o in gc.get_objects())


def test_the_oldest_due_generation_is_collected(thresholds: None) -> None:
    gc.collect()
    gc.set_threshold(1, 1, 10**6)
    gc.collect(0)  # one young collection since the middle generation's last
    assert collect_due() == 1
    gc.set_threshold(1, 1, 1)
    gc.collect(1)
    assert collect_due() == 2


def test_a_threshold_of_zero_never_falls_due(thresholds: None) -> None:
    gc.set_threshold(0, 0, 0)
    assert collect_due() is None


@pytest.mark.parametrize(
    ("young", "threshold", "tick"),
    [
        (0, 700, IDLE_TICK_S),
        (6999, 700, IDLE_TICK_S),
        (7000, 700, BUSY_TICK_S),  # a burst: cycles are collected every second
        (10**6, 0, IDLE_TICK_S),  # collection turned off by a threshold of 0
    ],
)
def test_the_tick_is_short_while_many_objects_are_made(
    young: int, threshold: int, tick: float
) -> None:
    assert next_tick(young, threshold) == tick


async def test_the_tick_turns_automatic_collection_off_until_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "IDLE_TICK_S", 0.01)
    monkeypatch.setattr(collector, "BUSY_TICK_S", 0.01)
    was = gc.isenabled()
    gc.enable()
    try:
        task = asyncio.ensure_future(collector.collect_on_this_thread())
        await asyncio.sleep(0.05)
        assert not gc.isenabled()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gc.isenabled()
    finally:
        if not was:
            gc.disable()

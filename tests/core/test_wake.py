from __future__ import annotations

from tray.core.wake import WakeDetector


def test_a_wall_clock_jump_is_a_wake() -> None:
    detector = WakeDetector(monotonic=100.0, wall=1000.0)
    assert not detector.check(110.0, 1010.0)
    assert not detector.check(120.0, 1022.0)  # NTP nudges are not sleep
    assert detector.check(130.0, 1632.0)  # 10 minutes asleep
    assert detector.woke_at == 130.0
    assert not detector.check(140.0, 1642.0)
    assert detector.woke_at == 130.0


def test_a_wall_clock_set_back_is_not_a_wake() -> None:
    detector = WakeDetector(monotonic=0.0, wall=5000.0)
    assert not detector.check(10.0, 10.0)
    assert detector.woke_at is None

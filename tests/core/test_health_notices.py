"""The notification policy's health notices: one per stuck session with Abort and Resume, closed
when the turn goes on; one quiet notice per announced version with Update and restart; one per
memory limit found too low to restart for."""

from __future__ import annotations

from tests.factories import make_status
from tray.core.notify_policy import CloseNotice, Notice, NoticeButton, NotifyPolicy, ShowNotice
from tray.core.server_health import HealthStatus, StuckTurn
from tray.core.settings import Settings
from tray.core.status import Status

STUCK = StuckTurn("ses_a", 400.0)


def _shown(policy: NotifyPolicy, status: Status) -> list[Notice]:
    decision = policy.decide(status, Settings(), status.now, None)
    return [a.notice for a in decision.actions if isinstance(a, ShowNotice)]


def test_a_stuck_turn_gets_one_notice_with_abort_and_resume() -> None:
    policy = NotifyPolicy()
    status = make_status(now=1000.0, health=HealthStatus(stuck=(STUCK,)))
    [notice] = _shown(policy, status)
    assert notice.key == "stuck-ses_a"
    assert notice.title == "opencode turn stuck"
    assert notice.body == (
        "Session ses_a has been busy for 10 min with no sign of progress.\n"
        "Abort ends its turn; Resume opens it. Nothing is aborted unless you click."
    )
    assert notice.buttons == (NoticeButton.ABORT, NoticeButton.RESUME)
    assert notice.session == "ses_a"
    assert not notice.critical
    assert _shown(policy, make_status(now=2000.0, health=HealthStatus(stuck=(STUCK,)))) == []


def test_the_stuck_notice_closes_when_the_turn_goes_on() -> None:
    policy = NotifyPolicy()
    _shown(policy, make_status(now=1000.0, health=HealthStatus(stuck=(STUCK,))))
    decision = policy.decide(make_status(now=1010.0), Settings(), 1010.0, None)
    assert decision.actions == (CloseNotice("stuck-ses_a"),)


def test_an_update_gets_one_quiet_notice_per_version() -> None:
    policy = NotifyPolicy()
    status = make_status(version="1.18.33", health=HealthStatus(update_available="1.19.0"))
    [notice] = _shown(policy, status)
    assert notice.key == "update-1.19.0"
    assert notice.title == "opencode update available"
    assert notice.body == (
        "opencode 1.19.0 is available (the server runs 1.18.33).\n"
        "Update and restart installs it the way opencode was installed, then restarts the "
        "server when no session is busy."
    )
    assert notice.buttons == (NoticeButton.UPDATE_AND_RESTART,)
    assert notice.version == "1.19.0"
    assert not notice.critical
    assert _shown(policy, replace_now(status, 1100.0)) == []


def test_a_memory_limit_too_low_gets_one_notice_per_incident() -> None:
    policy = NotifyPolicy()
    too_low = HealthStatus(memory_mb=412.0, memory_limit_mb=300, memory_limit_too_low_mb=412.0)
    [notice] = _shown(policy, make_status(now=1000.0, health=too_low))
    assert notice.key == "memory-limit-too-low"
    assert notice.title == "opencode memory limit too low"
    assert notice.body == (
        "The memory limit (300 MB) is below what a fresh server needs (412 MB): the server is "
        "not restarted for memory. Raise the limit in Settings."
    )
    assert notice.buttons == ()
    assert not notice.critical
    assert _shown(policy, make_status(now=1100.0, health=too_low)) == []
    raised = HealthStatus(memory_mb=412.0, memory_limit_mb=500)
    assert _shown(policy, make_status(now=1200.0, health=raised)) == []
    lowered = HealthStatus(memory_mb=412.0, memory_limit_mb=400, memory_limit_too_low_mb=412.0)
    [again] = _shown(policy, make_status(now=1300.0, health=lowered))
    assert again.key == notice.key
    assert again.body.startswith("The memory limit (400 MB) is below")


def test_the_new_buttons_have_labels() -> None:
    assert NoticeButton.ABORT.label == "Abort"
    assert NoticeButton.RESUME.label == "Resume"
    assert NoticeButton.UPDATE_AND_RESTART.label == "Update and restart"


def replace_now(status: Status, now: float) -> Status:
    return make_status(now=now, version=status.version, health=status.health)

"""Updates: an announced version is shown and noticed once; a binary on disk that changed
version is restarted onto at the next idle moment, never during a busy turn; "Update and
restart" runs the binary's own `upgrade`; the server runs with opencode's auto-update off."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from tests.engine.helpers import LaunchFactory, running
from tests.health.conftest import (
    FAST_HEALTH,
    SLOW_TEST_S,
    WAIT_S,
    Model,
    busy_on_server,
    new_turn,
    rest,
)
from tests.health.test_wedged import fake_binary
from tests.health.wrapper import make_wrapper
from tray.core.causes import CauseKind
from tray.core.server_health import Notices, UpdateNotice
from tray.core.status import Status

__all__ = ["fake_binary"]

RUNNING = "1.18.33"
# Each starts a server more than once: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(SLOW_TEST_S)
QUIET_TICKS = 10


def _binary_restart(status: Status) -> bool:
    return status.cause is not None and status.cause.kind is CauseKind.BINARY_UPDATED


@pytest.fixture
def wrapped(tmp_path: Path, opencode_binary: str) -> Path:
    (tmp_path / "bin").mkdir()
    return make_wrapper(tmp_path / "bin" / "opencode", opencode_binary, RUNNING)


async def test_an_announced_update_is_shown_and_noticed_once_per_version(
    make_launch: LaunchFactory, fake_binary: str
) -> None:
    launch = make_launch(opencode_path=fake_binary, extra_env={"FAKE_UPDATE": "9.9.9"})
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        notices = Notices()
        shown = await h.wait_for(
            "the update", lambda s: s.health.update_available == "9.9.9", within=WAIT_S
        )
        assert notices.new(shown.health) == [UpdateNotice("9.9.9")]
        h.engine.restart()  # the next server announces it again
        second = await h.connected_to_a_new_server(first, within=WAIT_S)
        await h.wait_for("the announcement again", lambda s: s.pid == second.pid, within=WAIT_S)
        assert notices.new(h.engine.status().health) == []
        assert h.engine.status().pid == second.pid, "an announcement alone restarts nothing"


async def test_a_changed_binary_is_picked_up_at_the_next_idle_moment_not_during_a_turn(
    make_launch: LaunchFactory, wrapped: Path, opencode_binary: str, model: Model
) -> None:
    # A turn of about 2 min, so that it is still busy however late a loaded machine sees the
    # change; it is ended (aborted) once the restart is seen waiting for it.
    model.mode("slow 240")
    launch = make_launch(opencode_path=str(wrapped), extra_env=model.env(), **FAST_HEALTH)
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        async with rest(launch, first) as client:
            session = await new_turn(client)
            await h.wait_for(
                "the turn to be busy", lambda s: session in s.busy_sessions, within=WAIT_S
            )
            make_wrapper(wrapped, opencode_binary, "1.18.34")
            waiting = await h.wait_for(
                "a restart waiting for the turn",
                lambda s: s.health.pending_restart is not None,
                within=WAIT_S,
            )
            assert waiting.health.binary_version == "1.18.34"
            assert waiting.health.pending_restart is not None
            assert waiting.health.pending_restart.kind is CauseKind.BINARY_UPDATED
            assert waiting.pid == first.pid
            assert session in await busy_on_server(client)
            ended = await client.post(f"/session/{session}/abort")
            assert ended.status_code == 200, ended.text
        restarting = await h.wait_for("the restart onto it", _binary_restart, WAIT_S)
        assert restarting.cause is not None
        assert restarting.cause.text == (
            "restarted onto opencode 1.18.34: the binary on disk changed (was 1.18.33)"
        )
        connected = [s.status for s in h.seen if s.status.state.value == "connected"]
        assert connected[-1].busy_sessions == (), "restarted during the busy turn"
        second = await h.connected_to_a_new_server(first, within=WAIT_S)
        await asyncio.sleep(QUIET_TICKS * FAST_HEALTH["health_interval_s"])
        assert h.engine.status().pid == second.pid, "restarted again for the same version"
        assert h.engine.status().restarts == 1


async def test_update_and_restart_runs_the_binarys_own_upgrade_then_restarts_when_idle(
    make_launch: LaunchFactory, wrapped: Path
) -> None:
    launch = make_launch(opencode_path=str(wrapped), **FAST_HEALTH)
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        assert first.pid is not None
        server_env = psutil.Process(first.pid).environ()
        assert server_env["OPENCODE_DISABLE_AUTOUPDATE"] == "1"
        await h.engine.update_server("1.18.35")
        assert h.engine.status().health.update_note == "updated to opencode 1.18.35"
        restarting = await h.wait_for("the restart onto it", _binary_restart, within=WAIT_S)
        assert restarting.cause is not None
        assert restarting.cause.facts["on_disk"] == "1.18.35"
        await h.connected_to_a_new_server(first, within=WAIT_S)
        upgrade_env = wrapped.with_suffix(".env").read_text().split()
        assert "OPENCODE_SERVER_PASSWORD" not in upgrade_env
        assert "HOME" in upgrade_env


UNKNOWN_METHOD = "opencode is installed to /somewhere and may be managed by a package manager"


@pytest.mark.parametrize(
    ("upgrade", "note"),
    [
        pytest.param(
            'echo "Error: no network" >&2; exit 1',
            "update to 1.18.35 failed (exit code 1): Error: no network",
            id="fails",
        ),
        pytest.param(
            f'echo "■  {UNKNOWN_METHOD}"; echo "◆  Install anyways?"; echo "│  ● No"; exit 0',
            "update to 1.18.35 left opencode 1.18.33 on disk: │  ● No",
            id="unknown-install-method",
        ),
    ],
)
async def test_an_update_that_changes_nothing_says_why_and_restarts_nothing(
    make_launch: LaunchFactory, tmp_path: Path, upgrade: str, note: str
) -> None:
    unchanged = tmp_path / "bin" / "opencode"
    unchanged.parent.mkdir()
    real = make_launch().settings.opencode_path
    unchanged.write_text(
        f'#!/bin/sh\nif [ "$1" = upgrade ]; then {upgrade}; fi\nexec "{real}" "$@"\n'
    )
    unchanged.chmod(0o755)
    launch = make_launch(opencode_path=str(unchanged), **FAST_HEALTH)
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        await h.engine.update_server("1.18.35")
        assert h.engine.status().health.update_note == note
        await asyncio.sleep(QUIET_TICKS * FAST_HEALTH["health_interval_s"])
        assert h.engine.status().pid == first.pid
        assert h.engine.status().health.pending_restart is None

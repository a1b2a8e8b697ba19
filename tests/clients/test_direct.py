"""Each real-client harness against a real server started directly (no front door): the client
works, and the harness sees what today's server does to it when the server is killed. These are
the baseline the front-door tests (test_front_door.py) are measured against."""

from __future__ import annotations

import base64
import os
import signal

import pytest

from tests.clients.conftest import Direct, create_session
from tests.clients.sdk import SdkClient
from tests.clients.strict import StrictClient
from tests.clients.tui import TuiClient
from tests.clients.web import WebClient
from tests.support.processes import wait_dead

pytestmark = [pytest.mark.server, pytest.mark.clients]


def kill(direct: Direct) -> int:
    pid = direct.harness.engine.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_strict_client_dies_at_a_server_kill(direct: Direct) -> None:
    async with StrictClient(direct.target) as strict:
        # The stream is open (no session made to prove it: on a fresh server its event is
        # sometimes not sent at all, FINDINGS.md).
        await strict.wait_for(lambda e: e.type == "server.connected")
        pid = kill(direct)
        await wait_dead(pid)
        await strict.wait_done()
    assert strict.error is not None, strict.describe()
    assert "RemoteProtocolError" in strict.error or "ReadError" in strict.error, strict.error


OWN_RETRY_S = 45.0  # how long the SDK's own reconnect is watched for (told, not asserted)


async def test_the_sdk_sees_a_server_kill_as_an_error_on_its_stream(direct: Direct) -> None:
    """A baseline, no app code under test: the kill breaks the SDK's stream. Whether its own
    retry then reconnects is the SDK's business and varies from run to run (FINDINGS.md: after
    a kill it came back in some runs and in others sent one more request that never answered),
    so it is printed, not asserted."""
    async with SdkClient(direct.target) as sdk:
        await sdk.wait_for(lambda line: line.get("type") == "server.connected")
        pid = kill(direct)
        await wait_dead(pid)
        error = await sdk.wait_for(lambda line: line["kind"] == "sse-error")
        assert not sdk.ended(), sdk.describe()
        await direct.harness.connected_to_a_new_server(direct.harness.engine.status())
        try:
            again = await sdk.wait_for(
                lambda line: line.get("type") == "server.connected",
                within=OWN_RETRY_S,
                after=error["at"],
            )
        except AssertionError:
            print(f"\nthe SDK's own retry: no reconnect within {OWN_RETRY_S:.0f} s")
        else:
            print(f"\nthe SDK's own retry: reconnected {again['at'] - error['at']:.1f} s after")


async def test_tui_lists_a_session_made_elsewhere(
    direct: Direct, opencode_binary: str, server_env: dict[str, str]
) -> None:
    async with TuiClient(opencode_binary, direct.target, server_env, direct.workdir) as tui:
        await tui.wait_screen("Ask anything", within=60)
        await create_session(direct.target, "made over REST", direct.workdir)
        await tui.session_list("made over REST")
        assert not await tui.exited()


async def test_web_app_renders_with_basic_credentials(direct: Direct) -> None:
    session_id = await create_session(direct.target, "a session in the browser", direct.workdir)
    where = base64.urlsafe_b64encode(str(direct.workdir).encode()).decode().rstrip("=")
    credentials = (direct.target.username, direct.target.password)
    async with WebClient(http_credentials=credentials) as web:
        await web.open(f"{direct.target.url}/{where}/session/{session_id}")
        await web.wait_text("a session in the browser", within=60)


async def test_web_app_with_auth_token_only_asks_to_sign_in(direct: Direct) -> None:
    """Today's "Open in browser": the page's `?auth_token=` authenticates the page itself, and its
    assets answer with a Basic challenge (issue 11, item 7): a sign-in box in a person's browser."""
    token = base64.b64encode(f"{direct.target.username}:{direct.target.password}".encode())
    async with WebClient() as web:
        await web.open(f"{direct.target.url}/?auth_token={token.decode()}")
        await web.wait_for(web.challenges)

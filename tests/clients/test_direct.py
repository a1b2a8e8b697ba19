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
from tests.engine.helpers import wait_dead

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


# Known open (issue 11's note): a baseline of the SDK's own retry against a bare server, no app
# code under test; at the end of this stop the SDK did not reconnect within 120 s in 2 of 4 runs.
@pytest.mark.xfail(
    reason="the SDK's own retry did not reconnect (see the comment above)", strict=False
)
@pytest.mark.timeout(300)  # its own wait is 120 s: a failure is the wait's, with room to tear down
async def test_sdk_retries_by_itself_after_a_server_kill(direct: Direct) -> None:
    async with SdkClient(direct.target) as sdk:
        await sdk.wait_for(lambda line: line.get("type") == "server.connected")
        # The project the SDK's calls land in (none named: the server's own directory) is loaded
        # first: the events of the request that loads it can be lost (FINDINGS.md).
        assert (await sdk.command("list"))["ok"]
        reply = await sdk.command("create", "made by the SDK")
        assert reply["ok"], reply
        await sdk.wait_for(lambda line: line.get("type") == "session.created")
        pid = kill(direct)
        await wait_dead(pid)
        await sdk.wait_for(lambda line: line["kind"] == "sse-error")
        await direct.harness.connected_to_a_new_server(direct.harness.engine.status())
        # its own retry, 3 s after the first failure and longer after each next one
        again = await sdk.wait_for(
            lambda line: line.get("type") == "server.connected",
            within=120,
            after=sdk.errors()[0]["at"],
        )
        assert again["at"] - sdk.errors()[0]["at"] >= 2.5, sdk.describe()
        assert not sdk.ended()


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

"""No secret reaches the log: the password in any form that carries it, and nothing a request
to the front door brings (`?auth_token=`, a one-time login link)."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from tray.core.door.phases import Credentials, ServerView
from tray.core.status import State
from tray.frontdoor.door import DoorConfig, FrontDoor
from tray.runtime import logs

PASSWORD = "s3cret-pass+/word?"


def redacted(message: str, username: str = "opencode") -> str:
    secrets = logs.SecretFilter()
    secrets.hide(username, PASSWORD)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s", (message,), None)
    assert secrets.filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    "form",
    [
        PASSWORD,
        base64.b64encode(f"opencode:{PASSWORD}".encode()).decode(),
        base64.urlsafe_b64encode(f"opencode:{PASSWORD}".encode()).decode(),
        base64.urlsafe_b64encode(f"opencode:{PASSWORD}".encode()).decode().rstrip("="),
    ],
    ids=["plain", "base64", "urlsafe", "unpadded"],
)
def test_the_password_is_redacted_in_every_form_that_carries_it(form: str) -> None:
    out = redacted(f"GET /?auth_token={form} Authorization: Basic {form}")
    assert form not in out
    assert "«redacted»" in out


async def test_the_front_door_logs_no_request_line(caplog: pytest.LogCaptureFixture) -> None:
    """An access log would write each request line, query and all, at INFO (the app's level):
    the door keeps none."""
    caplog.set_level(logging.DEBUG)
    public = Credentials("opencode", PASSWORD)
    door = FrontDoor(DoorConfig(port=0), public)
    url = await door.start()
    door.server_changed(ServerView(State.FAILED, None))
    token = base64.b64encode(f"opencode:{PASSWORD}".encode()).decode()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.get(f"{url}/session", params={"auth_token": token})
            assert answer.status_code == 503, answer.text
            login = door.login_url("/")
            assert (await client.get(login)).status_code == 303
    finally:
        await door.close()
    # The test's own client (httpx) logs its requests; the app keeps httpx at WARNING.
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "front door listening" in logged
    assert token not in logged
    assert login.rsplit("/", 1)[1] not in logged


def test_a_slot_holds_one_secret_at_a_time_and_the_users_are_all_kept() -> None:
    secrets = logs.SecretFilter()
    secrets.hide("opencode", "user-old")
    secrets.hide("opencode", "user-new")
    secrets.hide("opencode", "start-1", "private")
    secrets.hide("opencode", "start-2", "private")
    assert {"user-old", "user-new", "start-2"} <= secrets.secrets
    replaced = logs.SecretFilter()
    replaced.hide("opencode", "start-1")
    assert not replaced.secrets & secrets.secrets  # nor any form of it

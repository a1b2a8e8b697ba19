from __future__ import annotations

import base64
from typing import Any

import pytest

from tray.core import resume
from tray.core.resume import Condition

SID = "ses_abc"
INFO = {"id": SID, "title": "Fix it", "directory": "/home/u/proj", "time": {"updated": 17.0}}


def _assistant(completed: bool, tool_status: str | None = None) -> dict[str, Any]:
    times: dict[str, int] = {"created": 1} | ({"completed": 2} if completed else {})
    parts: list[dict[str, Any]] = [{"type": "text", "text": "hi"}]
    if tool_status:
        parts.append({"type": "tool", "state": {"status": tool_status}})
    return {"info": {"role": "assistant", "time": times}, "parts": parts}


USER = {"info": {"role": "user", "time": {"created": 1}}, "parts": []}


@pytest.mark.parametrize(
    ("messages", "busy", "condition"),
    [
        ([USER, _assistant(completed=True)], {}, Condition.IDLE),
        ([], {}, Condition.IDLE),
        ([USER], {}, Condition.IDLE),
        ([USER, _assistant(completed=False)], {}, Condition.INTERRUPTED),
        ([USER, _assistant(completed=True, tool_status="running")], {}, Condition.INTERRUPTED),
        ([USER, _assistant(completed=True, tool_status="pending")], {}, Condition.INTERRUPTED),
        ([USER, _assistant(completed=True, tool_status="completed")], {}, Condition.IDLE),
        ([USER, _assistant(completed=False)], {SID: {"type": "busy"}}, Condition.RUNNING),
    ],
)
def test_classify(
    messages: list[dict[str, Any]], busy: dict[str, Any], condition: Condition
) -> None:
    report = resume.classify(SID, INFO, messages, busy)
    assert report.condition is condition
    assert (report.title, report.directory, report.messages) == (
        "Fix it",
        "/home/u/proj",
        len(messages),
    )
    assert report.updated_ms == 17.0


def test_deleted_session_is_gone() -> None:
    report = resume.classify(SID, None, [], {})
    assert report.condition is Condition.GONE
    assert report.condition.label == "deleted"


def test_pending_requests_are_counted_per_session() -> None:
    permissions = [{"sessionID": SID}, {"sessionID": "other"}]
    questions = [{"sessionID": SID}]
    report = resume.classify(SID, INFO, [], {}, permissions=permissions, questions=questions)
    assert (report.pending_permissions, report.pending_questions, report.needs_answer) == (
        1,
        1,
        True,
    )


def test_web_url_for_a_session_carries_auth() -> None:
    url = resume.web_url("http://127.0.0.1:4096/", "opencode", "p w", "/home/u/proj", SID)
    directory = base64.urlsafe_b64encode(b"/home/u/proj").decode().rstrip("=")
    token = base64.b64encode(b"opencode:p w").decode().replace("=", "%3D")
    assert url == f"http://127.0.0.1:4096/{directory}/session/{SID}?auth_token={token}"


def test_web_url_home() -> None:
    assert resume.web_url("http://h:1", "u", "p").startswith("http://h:1/?auth_token=")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("", ["oc", "attach", "http://h:1", "--session", SID, "--dir", "/p q"]),
        (
            "xterm -e",
            ["xterm", "-e", "oc", "attach", "http://h:1", "--session", SID, "--dir", "/p q"],
        ),
        (
            "wezterm start -- {command} --mini",
            [
                "wezterm",
                "start",
                "--",
                "oc",
                "attach",
                "http://h:1",
                "--session",
                SID,
                "--dir",
                "/p q",
                "--mini",
            ],
        ),
    ],
)
def test_attach_command(template: str, expected: list[str]) -> None:
    assert resume.attach_command(template, "oc", "http://h:1", SID, "/p q") == expected

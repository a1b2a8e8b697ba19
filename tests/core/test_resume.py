from __future__ import annotations

import base64
from typing import Any

import pytest

from tray.core import causes, resume
from tray.core.resume import Condition
from tray.generations.v1 import web_url

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
    url = web_url("http://127.0.0.1:4096/", "opencode", "p w", "/home/u/proj", SID)
    directory = base64.urlsafe_b64encode(b"/home/u/proj").decode().rstrip("=")
    token = base64.b64encode(b"opencode:p w").decode().replace("=", "%3D")
    assert url == f"http://127.0.0.1:4096/{directory}/session/{SID}?auth_token={token}"


def test_web_url_home() -> None:
    assert web_url("http://h:1", "u", "p").startswith("http://h:1/?auth_token=")


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


# -- the resume decision ---------------------------------------------------------------------------

URL = "http://127.0.0.1:4096"


def _report(condition: Condition) -> resume.SessionReport:
    return resume.SessionReport(SID, "Fix it", "/home/u/proj", condition)


def test_resuming_without_a_server_says_start_it() -> None:
    assert resume.resume_start(None, SID) == resume.ResumeStep(
        1, "The server is not running: start it first."
    )


def test_resuming_before_any_session_opens_the_list() -> None:
    assert resume.resume_start(URL, None) == resume.ResumeStep(
        0, "No session yet: opened the session list.", open_list=True
    )


def test_a_known_session_is_looked_up() -> None:
    assert resume.resume_start(URL, SID) is None
    assert resume.resume_lookup_failed(SID, "timed out") == resume.ResumeStep(
        1, "Could not look up session ses_abc: timed out"
    )


def test_a_deleted_session_opens_the_list_instead() -> None:
    step = resume.resume_found(_report(Condition.GONE), "browser")
    assert step == resume.ResumeStep(
        1,
        "Session ses_abc no longer exists (it was deleted): opened the session list instead.",
        open_list=True,
    )


@pytest.mark.parametrize(
    ("condition", "offer"),
    [(Condition.IDLE, False), (Condition.RUNNING, False), (Condition.INTERRUPTED, True)],
)
def test_a_session_found_is_opened_and_an_interrupted_one_offered_to_continue(
    condition: Condition, offer: bool
) -> None:
    found = _report(condition)
    step = resume.resume_found(found, "terminal")
    assert step == resume.ResumeStep(
        0,
        f"Resumed ses_abc ({condition.label}) in the terminal.",
        session=found,
        offer_continue=offer,
    )


def test_terminal_command_or_why_there_is_none() -> None:
    found = _report(Condition.IDLE)
    missing = causes.binary_not_found(["/nope/opencode"])
    assert resume.terminal_command("xterm -e", missing, URL, found) == (
        f"Cannot open a terminal: {missing.text}"
    )
    assert resume.terminal_command(None, "/bin/opencode", URL, found) == (
        "Cannot open a terminal: none was found. Set a terminal command in Settings."
    )
    assert resume.terminal_command("xterm -e", "/bin/opencode", URL, found) == [
        "xterm",
        "-e",
        *("/bin/opencode", "attach", URL, "--session", SID, "--dir", "/home/u/proj"),
    ]

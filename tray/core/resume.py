"""Session resume, the pure part: what state a session was left in, and how to reopen it.

After a reconnect or restart the app fetches the session, its messages, the busy list and the
pending permissions and questions (as the official clients do) and `classify` says what that
means for the user.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

from tray.core.causes import Cause


class Condition(Enum):
    RUNNING = "running"  # the server is still working on it
    IDLE = "idle"  # the last turn completed
    INTERRUPTED = "interrupted"  # the server died mid-turn
    GONE = "gone"  # deleted

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Condition.RUNNING: "still running",
    Condition.IDLE: "idle",
    Condition.INTERRUPTED: "interrupted",
    Condition.GONE: "deleted",
}
_UNFINISHED_TOOL = ("running", "pending")


@dataclass(frozen=True)
class SessionSummary:
    """A session as the session list shows it."""

    id: str
    title: str
    directory: str
    updated_ms: float

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> SessionSummary | None:
        """From an item of GET /session; None when it has no id."""
        session_id = info.get("id")
        if not isinstance(session_id, str):
            return None
        times = info.get("time")
        updated = times.get("updated") if isinstance(times, Mapping) else None
        return cls(
            id=session_id,
            title=str(info.get("title") or ""),
            directory=str(info.get("directory") or ""),
            updated_ms=float(updated) if isinstance(updated, int | float) else 0.0,
        )


RECENT_KEPT = 50


def newest_first(sessions: Iterable[SessionSummary]) -> tuple[SessionSummary, ...]:
    return tuple(sorted(sessions, key=lambda s: s.updated_ms, reverse=True)[:RECENT_KEPT])


def apply_session_event(
    recent: tuple[SessionSummary, ...], type_: str, properties: Mapping[str, Any]
) -> tuple[SessionSummary, ...]:
    """The session list after a `session.created|updated|deleted` event; others change nothing."""
    if type_ not in ("session.created", "session.updated", "session.deleted"):
        return recent
    info = properties.get("info")
    summary = SessionSummary.from_info(info) if isinstance(info, Mapping) else None
    if summary is None:
        return recent
    others = (s for s in recent if s.id != summary.id)
    return newest_first(others if type_ == "session.deleted" else (*others, summary))


@dataclass(frozen=True)
class SessionReport:
    """A session as found at resync."""

    id: str
    title: str
    directory: str
    condition: Condition
    messages: int = 0
    pending_permissions: int = 0
    pending_questions: int = 0
    updated_ms: float = 0.0

    @property
    def needs_answer(self) -> bool:
        return bool(self.pending_permissions or self.pending_questions)


def _interrupted(messages: Sequence[Mapping[str, Any]]) -> bool:
    """The last assistant message never completed, or a tool part was left running."""
    assistant = [m for m in messages if _info(m).get("role") == "assistant"]
    if not assistant:
        return False
    last = assistant[-1]
    times = _info(last).get("time")
    if not isinstance(times, Mapping) or not times.get("completed"):
        return True
    for part in last.get("parts") or ():
        state = part.get("state") if isinstance(part, Mapping) else None
        if isinstance(state, Mapping) and state.get("status") in _UNFINISHED_TOOL:
            return True
    return False


def _info(message: Mapping[str, Any]) -> Mapping[str, Any]:
    info = message.get("info")
    return info if isinstance(info, Mapping) else {}


def _belongs(item: Mapping[str, Any], session_id: str) -> bool:
    return item.get("sessionID") == session_id


def classify(
    session_id: str,
    info: Mapping[str, Any] | None,
    messages: Sequence[Mapping[str, Any]],
    busy: Mapping[str, Any],
    *,
    permissions: Sequence[Mapping[str, Any]] = (),
    questions: Sequence[Mapping[str, Any]] = (),
) -> SessionReport:
    """What a session's REST view says; `info` is None when the server answered 404."""
    if info is None:
        return SessionReport(session_id, "", "", Condition.GONE)
    if session_id in busy:
        condition = Condition.RUNNING
    elif _interrupted(messages):
        condition = Condition.INTERRUPTED
    else:
        condition = Condition.IDLE
    summary = SessionSummary.from_info({**info, "id": session_id})
    assert summary is not None  # it has an id
    return SessionReport(
        id=session_id,
        title=summary.title,
        directory=summary.directory,
        condition=condition,
        messages=len(messages),
        pending_permissions=sum(_belongs(p, session_id) for p in permissions),
        pending_questions=sum(_belongs(q, session_id) for q in questions),
        updated_ms=summary.updated_ms,
    )


def auth_token(username: str, password: str) -> str:
    """The web app's `?auth_token=`: base64 of 'user:password'."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def web_url(
    base: str, username: str, password: str, directory: str = "", session_id: str = ""
) -> str:
    """The web app's page for a session (or its home), carrying auth so the browser won't ask.

    The web app routes `/<base64url(directory), unpadded>/session/<id>` and drops auth_token
    from the address bar once it has read it.
    """
    path = ""
    if directory and session_id:
        encoded = base64.urlsafe_b64encode(directory.encode()).decode().rstrip("=")
        path = f"{encoded}/session/{session_id}"
    return f"{base.rstrip('/')}/{path}?auth_token={quote(auth_token(username, password))}"


def attach_command(
    template: str, binary: str, url: str, session_id: str, directory: str
) -> list[str]:
    """The terminal command for `opencode attach`; `{command}` in the template stands for it.

    The password travels in the environment (OPENCODE_SERVER_PASSWORD), never in argv.
    """
    attach = [binary, "attach", url, "--session", session_id]
    if directory:
        attach += ["--dir", directory]
    words = shlex.split(template)
    if "{command}" not in words:
        return [*words, *attach]
    at = words.index("{command}")
    return [*words[:at], *attach, *words[at + 1 :]]


# -- the resume decision: what reopening a session does, and what the user is told ------------


@dataclass(frozen=True)
class ResumeStep:
    """One answer of the resume decision. `code` is the command line's exit code (0: done)."""

    code: int
    message: str
    open_list: bool = False  # open the web app's session list instead
    session: SessionReport | None = None  # open the resume target at this session
    offer_continue: bool = False  # then offer to continue its interrupted turn


def resume_start(url: str | None, session_id: str | None) -> ResumeStep | None:
    """What resuming `session_id` (None: no session known yet) needs before looking it up; None
    when it has to be looked up."""
    if url is None:
        return ResumeStep(1, "The server is not running: start it first.")
    if session_id is None:
        return ResumeStep(0, "No session yet: opened the session list.", open_list=True)
    return None


def resume_lookup_failed(session_id: str, reason: str) -> ResumeStep:
    return ResumeStep(1, f"Could not look up session {session_id}: {reason}")


def resume_found(found: SessionReport, where: str) -> ResumeStep:
    """What to do with a session as the server reports it; `where` names the resume target.

    An interrupted session also gets the offer to continue its turn: only the user's click on
    Continue sends anything to the session."""
    if found.condition is Condition.GONE:
        return ResumeStep(
            1,
            f"Session {found.id} no longer exists (it was deleted): "
            "opened the session list instead.",
            open_list=True,
        )
    return ResumeStep(
        0,
        f"Resumed {found.id} ({found.condition.label}) in the {where}.",
        session=found,
        offer_continue=found.condition is Condition.INTERRUPTED,
    )


def terminal_command(
    template: str | None, binary: str | Cause, url: str, found: SessionReport
) -> list[str] | str:
    """The argv that opens `found` in a terminal, or why there is none."""
    if isinstance(binary, Cause):
        return f"Cannot open a terminal: {binary.text}"
    if template is None:
        return "Cannot open a terminal: none was found. Set a terminal command in Settings."
    return attach_command(template, binary, url, found.id, found.directory)

"""Session resume, the pure part: what state a session was left in, and how to reopen it.

After a reconnect or restart the app fetches the session, its messages, the busy list and the
pending permissions and questions (as the official clients do) and `classify` says what that
means for the user.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tray.core.causes import Cause
from tray.generations.events import ServerEvent, SessionChanged, SessionDeleted, SessionSummary
from tray.generations.generation import Generation
from tray.generations.v1 import V1


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
RECENT_KEPT = 50


def newest_first(sessions: Iterable[SessionSummary]) -> tuple[SessionSummary, ...]:
    return tuple(sorted(sessions, key=lambda s: s.updated_ms, reverse=True)[:RECENT_KEPT])


def apply_session_event(
    recent: tuple[SessionSummary, ...], event: ServerEvent
) -> tuple[SessionSummary, ...]:
    """The session list after a session was created, updated or deleted; others change nothing."""
    match event:
        case SessionChanged(summary):
            return newest_first((*(s for s in recent if s.id != summary.id), summary))
        case SessionDeleted(deleted):
            return newest_first(s for s in recent if s.id != deleted)
    return recent


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
    gen: Generation = V1,
) -> SessionReport:
    """What a session's REST view says; `info` is None when the server answered 404."""
    if info is None:
        return SessionReport(session_id, "", "", Condition.GONE)
    if session_id in busy:
        condition = Condition.RUNNING
    elif gen.interrupted(messages):
        condition = Condition.INTERRUPTED
    else:
        condition = Condition.IDLE
    summary = gen.summary({**info, "id": session_id})
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


def attach_command(
    template: str, binary: str, url: str, session_id: str, directory: str, *, gen: Generation = V1
) -> list[str]:
    """The terminal command that attaches to the session; `{command}` in the template stands
    for it."""
    attach = gen.attach(binary, url, session_id, directory)
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

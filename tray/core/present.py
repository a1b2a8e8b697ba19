"""The words a person reads about a `Status`: the status line, the tooltip, durations."""

from __future__ import annotations

from tray.core.status import State, Status


def duration(seconds: float) -> str:
    """'0.4 s', '12 s', '3 min 5 s', '2 h 5 min', '3 d 4 h'."""
    if seconds < 1:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def state_line(status: Status) -> str:
    """The state with what the app is doing about it: 'Crashed, restarting in 4 s (attempt 2)'."""
    label = status.state.label
    retry = status.next_retry_in_s
    if status.state is State.CRASHED and retry is not None:
        return f"Crashed, restarting in {duration(retry)} (attempt {status.attempt})"
    if status.state in (State.RECONNECTING, State.STALLED) and retry is not None:
        return f"{label}, next try in {duration(retry)} (attempt {status.attempt})"
    if status.state is State.STOPPED:
        return "Stopped by you"
    return label


def status_line(status: Status) -> str:
    """One line for the menu: state and cause."""
    cause = status.cause
    return f"{state_line(status)}: {cause.text}" if cause else state_line(status)


def tooltip(status: Status) -> str:
    """State, cause, server URL and version, uptime, active sessions."""
    lines = [f"opencode: {state_line(status)}"]
    if status.cause:
        lines.append(status.cause.text)
    if status.url:
        version = f" (opencode {status.version})" if status.version else ""
        lines.append(f"{status.url}{version}")
    uptime = status.uptime_s
    if uptime is not None and status.state is State.CONNECTED:
        lines.append(f"Up {duration(uptime)}")
    busy = len(status.busy_sessions)
    if busy:
        lines.append(f"{busy} active session{'s' if busy != 1 else ''}")
    return "\n".join(lines)

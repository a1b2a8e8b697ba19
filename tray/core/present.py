"""The words a person reads about a `Status`: the status line, the tooltip, durations."""

from __future__ import annotations

from tray.core.causes import Cause, CauseKind, size_text
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


def sentence(text: str) -> str:
    """`text` as a sentence: a capital first letter and a full stop (or ! or ?) at the end."""
    text = capitalized(text)
    return text if text.endswith((".", "!", "?")) else text + "."


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def retry(verb: str, status: Status, now: float | None = None) -> str:
    """What the app does next and when: 'restarting in 4 s (attempt 2)'; `now` defaults to the
    status's own time."""
    attempt = f" (attempt {status.attempt})" if status.attempt else ""
    if status.next_retry_at is None:
        return f"{verb}{attempt}"
    left = max(0.0, status.next_retry_at - (status.now if now is None else now))
    return f"{verb} in {duration(left)}{attempt}"


def state_line(status: Status) -> str:
    """The state with what the app is doing about it: 'Crashed, restarting in 4 s (attempt 2)'."""
    if status.next_retry_at is not None:
        if status.state is State.CRASHED:
            return f"Crashed, {retry('restarting', status)}"
        if status.state in (State.RECONNECTING, State.STALLED):
            return f"{status.state.label}, {retry('next try', status)}"
    if status.state is State.STOPPED:
        return "Stopped by you"
    return status.state.label


def status_line(status: Status) -> str:
    """One line for the menu: state and cause."""
    cause = status.cause
    return f"{state_line(status)}: {cause.text}" if cause else state_line(status)


def coarse_uptime(seconds: float) -> str:
    """Uptime to 10 s in the first minute and to the minute after ('under 10 s', '40 s',
    '3 min', '2 h 5 min'): the text changes at most once a minute after the first, so that a
    tooltip that follows it costs next to no wakeups."""
    if seconds < 10:
        return "under 10 s"
    step = 10 if seconds < 60 else 60
    return duration(seconds // step * step)


def coarse_uptime_changes_in(seconds: float) -> float:
    """Seconds until `coarse_uptime` says something else."""
    step = 10.0 if seconds < 60 else 60.0
    return step - seconds % step


def details(status: Status, coarse: bool = False) -> list[str]:
    """What the tooltip says below the state: cause, server URL and version, uptime (`coarse`:
    as `coarse_uptime` says it), busy sessions."""
    lines = [status.cause.text] if status.cause else []
    if status.url:
        version = f" (opencode {status.version})" if status.version else ""
        lines.append(f"{status.url}{version}")
    uptime = status.uptime_s
    if uptime is not None and status.state is State.CONNECTED:
        lines.append(f"Up {coarse_uptime(uptime) if coarse else duration(uptime)}")
    busy = len(status.busy_sessions)
    if busy:
        lines.append(f"{busy} active session{'s' if busy != 1 else ''}")
    return lines + health_lines(status)


def health_lines(status: Status) -> list[str]:
    """Memory, a limit too low, stuck turns, a restart waiting for idle, updates: one line
    each, when there."""
    health = status.health
    lines = []
    if health.memory_mb is not None:
        peak = health.memory_peak_mb
        limit = health.memory_limit_mb
        extra = [f"peak {size_text(peak)}"] if peak is not None else []
        extra += [f"limit {size_text(limit)}"] if limit else []
        shown = f" ({', '.join(extra)})" if extra else ""
        lines.append(f"Memory {size_text(health.memory_mb)}{shown}")
    needed = health.memory_limit_too_low_mb
    if needed is not None:
        lines.append(memory_limit_too_low(health.memory_limit_mb, needed))
    for turn in health.stuck:
        silent = duration(turn.silent_for(status.now))
        lines.append(f"Session {turn.session_id} stuck: busy with no event for {silent}")
    pending = health.pending_restart
    if pending is not None:
        lines.append(f"Restart when no session is busy: {_waiting_restart(pending)}")
    if health.update_available and health.update_available != status.version:
        lines.append(f"opencode {health.update_available} is available")
    if health.update_note:
        lines.append(health.update_note)
    return lines


def memory_limit_too_low(limit_mb: float, needed_mb: float) -> str:
    """Why the memory limit restarts nothing: a fresh server is over it already."""
    return (
        f"The memory limit ({size_text(limit_mb)}) is below what a fresh server needs "
        f"({size_text(needed_mb)}): the server is not restarted for memory. "
        "Raise the limit in Settings."
    )


def _waiting_restart(cause: Cause) -> str:
    facts = cause.facts
    if cause.kind is CauseKind.MEMORY_LIMIT:
        used, limit = facts["memory_mb"], facts["limit_mb"]
        if isinstance(used, int | float) and isinstance(limit, int | float):
            return f"the server uses {size_text(used)} (limit {size_text(limit)})"
    if cause.kind is CauseKind.BINARY_UPDATED:
        return f"opencode {facts['on_disk']} is on disk (running {facts['running']})"
    return cause.text


def tooltip(status: Status, coarse: bool = False) -> str:
    """The state line, then the details."""
    return "\n".join([f"opencode: {state_line(status)}", *details(status, coarse)])

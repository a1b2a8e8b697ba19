"""Every cause: its kind, its exact one-line text and the facts behind it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from tray.core import causes
from tray.core.causes import TAIL_LINES, Cause, CauseKind, FactValue

URL = "http://127.0.0.1:4096"
EXIT_1 = causes.process_exited(1, [])

# (cause, kind, text, facts)
CONSTRUCTED = [
    pytest.param(
        causes.binary_not_found(["/usr/bin/opencode", "/app/.opencode/opencode"]),
        CauseKind.BINARY_NOT_FOUND,
        "opencode not found (tried /usr/bin/opencode, /app/.opencode/opencode): "
        "install opencode-ai or set its path in Settings",
        {"tried": ("/usr/bin/opencode", "/app/.opencode/opencode")},
        id="binary_not_found",
    ),
    pytest.param(
        causes.binary_not_found([]),
        CauseKind.BINARY_NOT_FOUND,
        "opencode not found (tried PATH): install opencode-ai or set its path in Settings",
        {"tried": ()},
        id="binary_not_found-nothing-tried",
    ),
    pytest.param(
        causes.not_executable("/opt/opencode"),
        CauseKind.NOT_EXECUTABLE,
        "/opt/opencode is not executable: fix its permissions or choose another binary in Settings",
        {"path": "/opt/opencode"},
        id="not_executable",
    ),
    pytest.param(
        causes.spawn_failed("/opt/opencode", "[Errno 8] Exec format error"),
        CauseKind.SPAWN_FAILED,
        "could not start /opt/opencode: [Errno 8] Exec format error",
        {"path": "/opt/opencode", "error": "[Errno 8] Exec format error"},
        id="spawn_failed",
    ),
    pytest.param(
        causes.port_in_use(4096, "python3 (pid 812)"),
        CauseKind.PORT_IN_USE,
        "port 4096 is in use by python3 (pid 812): stop it or choose another port in Settings",
        {"port": 4096, "owner": "python3 (pid 812)"},
        id="port_in_use-owner",
    ),
    pytest.param(
        causes.port_in_use(4096, None),
        CauseKind.PORT_IN_USE,
        "port 4096 is in use by another program (the OS does not say which): "
        "stop it or choose another port in Settings",
        {"port": 4096, "owner": None},
        id="port_in_use-unknown-owner",
    ),
    pytest.param(
        causes.startup_timeout(60.0),
        CauseKind.STARTUP_TIMEOUT,
        "startup timed out after 60 s: raise the startup timeout in Settings if your MCP or LSP "
        "servers are slow",
        {"seconds": 60.0, "last_health": None},
        id="startup_timeout",
    ),
    pytest.param(
        causes.startup_timeout(30.0, causes.wrong_password()),
        CauseKind.STARTUP_TIMEOUT,
        "startup timed out after 30 s: the last health check got: 401 wrong password: the "
        "server was started with another password; restarting it",
        {"seconds": 30.0, "last_health": causes.wrong_password().text},
        id="startup_timeout-last-health",
    ),
    pytest.param(
        causes.unsupported_version("2.0.0", "1.x"),
        CauseKind.UNSUPPORTED_VERSION,
        "opencode 2.0.0 is not supported (opencode-tray supports 1.x): "
        "install a supported version or choose another binary in Settings",
        {"version": "2.0.0", "supported": "1.x"},
        id="unsupported_version",
    ),
    pytest.param(
        causes.heartbeat_missed(25.04),
        CauseKind.HEARTBEAT_MISSED,
        "no heartbeat for 25 s: the event stream stalled",
        {"seconds": 25.0},
        id="heartbeat_missed",
    ),
    pytest.param(
        causes.server_hung(60.26),
        CauseKind.SERVER_HUNG,
        "server unresponsive for 60 s: restarting it",
        {"seconds": 60.3, "last": None},
        id="server_hung",
    ),
    pytest.param(
        causes.server_hung(61, causes.http_error(500, "Internal Server Error")),
        CauseKind.SERVER_HUNG,
        "server unresponsive for 61 s (HTTP error 500: Internal Server Error): restarting it",
        {"seconds": 61, "last": "HTTP error 500: Internal Server Error"},
        id="server_hung-last",
    ),
    pytest.param(
        causes.stream_closed(),
        CauseKind.STREAM_CLOSED,
        "event stream closed by the server",
        {},
        id="stream_closed",
    ),
    pytest.param(
        causes.stream_broken("RemoteProtocolError: peer closed connection"),
        CauseKind.STREAM_BROKEN,
        "event stream broke: RemoteProtocolError: peer closed connection",
        {"error": "RemoteProtocolError: peer closed connection"},
        id="stream_broken",
    ),
    pytest.param(
        causes.stream_garbage("not JSON: 'data: {'"),
        CauseKind.STREAM_GARBAGE,
        "event stream sent garbage: not JSON: 'data: {'",
        {"detail": "not JSON: 'data: {'"},
        id="stream_garbage",
    ),
    pytest.param(
        causes.connection_refused(URL),
        CauseKind.CONNECTION_REFUSED,
        "connection refused at http://127.0.0.1:4096",
        {"url": URL},
        id="connection_refused",
    ),
    pytest.param(
        causes.wrong_password(),
        CauseKind.WRONG_PASSWORD,
        "401 wrong password: the server was started with another password; restarting it",
        {},
        id="wrong_password",
    ),
    pytest.param(
        causes.http_error(500, "UnknownError"),
        CauseKind.HTTP_ERROR,
        "HTTP error 500: UnknownError",
        {"status": 500, "detail": "UnknownError"},
        id="http_error",
    ),
    pytest.param(
        causes.request_failed("ReadError"),
        CauseKind.REQUEST_FAILED,
        "request to the server failed: ReadError",
        {"error": "ReadError"},
        id="request_failed",
    ),
    pytest.param(
        causes.http_error(502),
        CauseKind.HTTP_ERROR,
        "HTTP error 502",
        {"status": 502, "detail": ""},
        id="http_error-no-detail",
    ),
    pytest.param(
        causes.crash_loop(5, 300.0, EXIT_1),
        CauseKind.CRASH_LOOP,
        "gave up after 5 crashes in 5 min; last: server exited with code 1",
        {"crashes": 5, "window_s": 300.0, "last": "server exited with code 1"},
        id="crash_loop",
    ),
    pytest.param(
        causes.keyring_waiting(60.0),
        CauseKind.KEYRING_WAITING,
        "waiting for the keyring (is it asking for its password?): the server starts when it "
        "answers, or after 60 s with a password for this run only",
        {"timeout_s": 60.0},
        id="keyring_waiting",
    ),
    pytest.param(
        causes.memory_limit(4403.2, 4096),
        CauseKind.MEMORY_LIMIT,
        "restarted: the server used 4.3 GB (limit 4 GB)",
        {"memory_mb": 4403, "limit_mb": 4096, "waited_s": None},
        id="memory_limit",
    ),
    pytest.param(
        causes.requests_hang(20.04, "/global/health"),
        CauseKind.REQUESTS_HANG,
        "requests hang: /global/health got no answer for 20 s while the event stream went on; "
        "restarting the server",
        {"seconds": 20.0, "path": "/global/health"},
        id="requests_hang",
    ),
    pytest.param(
        causes.binary_updated("1.18.33", "1.18.34", "/usr/bin/opencode"),
        CauseKind.BINARY_UPDATED,
        "restarted onto opencode 1.18.34: the binary on disk changed (was 1.18.33)",
        {"running": "1.18.33", "on_disk": "1.18.34", "path": "/usr/bin/opencode"},
        id="binary_updated",
    ),
]


@pytest.mark.parametrize(("cause", "kind", "text", "facts"), CONSTRUCTED)
def test_constructor(
    cause: Cause, kind: CauseKind, text: str, facts: Mapping[str, FactValue]
) -> None:
    assert (cause.kind, cause.text, dict(cause.facts)) == (kind, text, facts)
    assert "\n" not in cause.text


def test_every_kind_has_a_constructor() -> None:
    constructed = {c.kind for p in CONSTRUCTED if isinstance(c := p.values[0], Cause)}
    exit_kinds = {CauseKind.EXITED, CauseKind.KILLED_BY_SIGNAL}
    assert constructed | exit_kinds == set(CauseKind)


# -- process_exited ------------------------------------------------------------------------------

BUN_PANIC = (
    "============================================================",
    "Bun v1.2.19 (aad3abea) Linux x64 (baseline)",
    "Elapsed: 4021ms | User: 3324ms | Sys: 412ms",
    "RSS: 0.66GB | Peak: 0.66GB | Commit: 1.05GB | Faults: 12",
    "",
    "panic(main thread): Segmentation fault at address 0x0",
    "oh no: Bun has crashed. This indicates a bug in Bun, not your code.",
)
BUN_PANIC_TAIL = tuple(line for line in BUN_PANIC if line)
SEGFAULT = "Bun crashed (Segmentation fault at address 0x0)"
SERVE_ERROR = ("\x1b[91m\x1b[1mError: \x1b[0mUnexpected error", "\x1b[91mServeError\x1b[0m")
SERVE_ERROR_TEXT = "ServeError: the server could not listen (is the port taken?)"
OH_NO = "oh no: Bun has crashed. This indicates a bug in Bun, not your code."


@pytest.mark.parametrize("returncode", [1, 0, 2, 128, 160, 255])
def test_plain_exit_code(returncode: int) -> None:
    cause = causes.process_exited(returncode, ())
    assert (cause.kind, cause.text) == (CauseKind.EXITED, f"server exited with code {returncode}")
    assert dict(cause.facts) == {"returncode": returncode, "stderr_tail": ()}


@pytest.mark.parametrize(
    ("returncode", "name"),
    [
        (-15, "SIGTERM"),
        (143, "SIGTERM"),
        (-9, "SIGKILL"),
        (137, "SIGKILL"),
        (-11, "SIGSEGV"),
        (139, "SIGSEGV"),
        (-6, "SIGABRT"),
        (129, "SIGHUP"),
        (-100, "signal 100"),
    ],
)
def test_killed_by_signal(returncode: int, name: str) -> None:
    cause = causes.process_exited(returncode, ())
    assert (cause.kind, cause.text) == (CauseKind.KILLED_BY_SIGNAL, f"server killed by {name}")
    assert dict(cause.facts) == {"returncode": returncode, "stderr_tail": (), "signal": name}


@pytest.mark.parametrize(
    ("returncode", "stderr", "kind", "text", "extra"),
    [
        pytest.param(
            -11,
            BUN_PANIC,
            CauseKind.KILLED_BY_SIGNAL,
            f"server killed by SIGSEGV: {SEGFAULT}",
            {"signal": "SIGSEGV", "recognised": SEGFAULT},
            id="bun-panic-signal",
        ),
        pytest.param(
            1,
            BUN_PANIC,
            CauseKind.EXITED,
            f"server exited with code 1: {SEGFAULT}",
            {"recognised": SEGFAULT},
            id="bun-panic-code",
        ),
        pytest.param(
            1,
            (OH_NO,),
            CauseKind.EXITED,
            "server exited with code 1: Bun crashed",
            {"recognised": "Bun crashed"},
            id="bun-crashed-without-panic-line",
        ),
        pytest.param(
            1,
            SERVE_ERROR,
            CauseKind.EXITED,
            f"server exited with code 1: {SERVE_ERROR_TEXT}",
            {"recognised": SERVE_ERROR_TEXT},
            id="serve-error-ansi",
        ),
        pytest.param(
            1,
            ("Error: Unexpected error", "ServeError"),
            CauseKind.EXITED,
            f"server exited with code 1: {SERVE_ERROR_TEXT}",
            {"recognised": SERVE_ERROR_TEXT},
            id="serve-error-plain",
        ),
        pytest.param(
            2,
            ("", "\x1b[33mwarn\x1b[0m: config", "   ", "TypeError: x is undefined   "),
            CauseKind.EXITED,
            "server exited with code 2: TypeError: x is undefined",
            {},
            id="unrecognised-last-line",
        ),
    ],
)
def test_process_exited(
    returncode: int,
    stderr: Sequence[str],
    kind: CauseKind,
    text: str,
    extra: Mapping[str, FactValue],
) -> None:
    cause = causes.process_exited(returncode, stderr)
    tail = causes.clean_lines(stderr)
    assert (cause.kind, cause.text) == (kind, text)
    assert dict(cause.facts) == {"returncode": returncode, "stderr_tail": tail, **extra}


def test_process_exited_facts_keep_the_clean_tail() -> None:
    assert causes.process_exited(-11, BUN_PANIC).facts["stderr_tail"] == BUN_PANIC_TAIL
    assert causes.process_exited(1, SERVE_ERROR).facts["stderr_tail"] == (
        "Error: Unexpected error",
        "ServeError",
    )


def test_process_exited_keeps_only_the_last_lines() -> None:
    lines = [f"line {n}" for n in range(20)]
    cause = causes.process_exited(1, lines)
    assert cause.facts["stderr_tail"] == tuple(lines[-TAIL_LINES:])
    assert cause.text == "server exited with code 1: line 19"


@pytest.mark.parametrize(
    ("lines", "clean"),
    [
        ([], ()),
        (["", "  ", "\t"], ()),
        (["plain"], ("plain",)),
        (["trailing   ", "  leading"], ("trailing", "  leading")),
        (["\x1b[91m\x1b[1mError: \x1b[0mUnexpected error"], ("Error: Unexpected error",)),
        (["\x1b[?25h\x1b[2K"], ()),
        (["\x1b[38;5;196mred\x1b[0m", "", "next"], ("red", "next")),
    ],
)
def test_clean_lines(lines: list[str], clean: tuple[str, ...]) -> None:
    assert causes.clean_lines(lines) == clean


# -- weight, fatality, JSON ----------------------------------------------------------------------

WEIGHTS = {
    CauseKind.BINARY_NOT_FOUND: 3,
    CauseKind.NOT_EXECUTABLE: 3,
    CauseKind.UNSUPPORTED_VERSION: 3,
    CauseKind.CRASH_LOOP: 3,
    CauseKind.SPAWN_FAILED: 2,
    CauseKind.PORT_IN_USE: 2,
    CauseKind.EXITED: 2,
    CauseKind.KILLED_BY_SIGNAL: 2,
    CauseKind.STARTUP_TIMEOUT: 2,
    CauseKind.SERVER_HUNG: 2,
    CauseKind.WRONG_PASSWORD: 2,
    CauseKind.KEYRING_WAITING: 2,
    CauseKind.MEMORY_LIMIT: 2,
    CauseKind.REQUESTS_HANG: 2,
    CauseKind.BINARY_UPDATED: 2,
    CauseKind.HEARTBEAT_MISSED: 1,
    CauseKind.STREAM_CLOSED: 1,
    CauseKind.STREAM_BROKEN: 1,
    CauseKind.STREAM_GARBAGE: 1,
    CauseKind.CONNECTION_REFUSED: 1,
    CauseKind.HTTP_ERROR: 1,
    CauseKind.REQUEST_FAILED: 1,
}


def test_weights_cover_every_kind() -> None:
    assert set(WEIGHTS) == set(CauseKind)


@pytest.mark.parametrize(("kind", "weight"), WEIGHTS.items(), ids=str)
def test_weight_and_fatality(kind: CauseKind, weight: int) -> None:
    cause = Cause(kind, "text")
    assert cause.weight == weight
    assert cause.is_fatal is (weight == 3)


def test_to_json_turns_tuples_into_lists() -> None:
    cause = causes.process_exited(1, SERVE_ERROR)
    data = cause.to_json()
    assert data == {
        "kind": "exited",
        "text": f"server exited with code 1: {SERVE_ERROR_TEXT}",
        "facts": {
            "returncode": 1,
            "stderr_tail": ["Error: Unexpected error", "ServeError"],
            "recognised": SERVE_ERROR_TEXT,
        },
    }
    assert json.loads(json.dumps(data)) == data


def test_to_json_without_facts() -> None:
    assert causes.stream_closed().to_json() == {
        "kind": "stream_closed",
        "text": "event stream closed by the server",
        "facts": {},
    }
    assert causes.port_in_use(80, None).to_json()["facts"] == {"port": 80, "owner": None}

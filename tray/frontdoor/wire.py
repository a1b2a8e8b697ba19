"""What the front door changes on the way through: the headers it forwards each way, and the
responses it makes itself (refusals, in the server's error shape)."""

from __future__ import annotations

from tray.core.door.auth import COOKIE_NAME, strip_query
from tray.core.door.errors import Refuse
from tray.core.door.phases import Upstream
from tray.frontdoor.exchange import Request, Response
from tray.frontdoor.http import Headers

# Headers that belong to one hop (RFC 9110 7.6.1), never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Not forwarded from the client: the door sets them for the upstream itself (and answers a
# client's `Expect: 100-continue` itself when it reads the body).
NOT_FORWARDED = HOP_BY_HOP | {b"host", b"authorization", b"expect"}
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-accel-buffering", b"no"),
]
JSON: Headers = [(b"content-type", b"application/json; charset=utf-8")]


def upstream_request(request: Request, upstream: Upstream) -> tuple[str, Headers]:
    """The target and headers to send the server for `request`."""
    headers: Headers = []
    for name, value in request.headers:
        lower = name.lower()
        if lower in NOT_FORWARDED:
            continue
        kept = _without_cookie(value) if lower == b"cookie" else value
        if kept:
            headers.append((name, kept))
    headers.append((b"authorization", upstream.credentials.basic().encode()))
    if request.header("transfer-encoding") is not None:
        headers.append((b"transfer-encoding", b"chunked"))  # llhttp reads it unchunked
    path, _, query = request.raw_path.partition("?")
    query = strip_query(query, ("auth_token",))  # returns at once when there is none
    return path + (f"?{query}" if query else ""), headers


def response_headers(headers: Headers) -> Headers:
    """The server's response headers the client gets."""
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP]


def directory_of(request: Request) -> str | None:
    """The project a request is for, if it names one."""
    return request.query.get("directory") or request.header("x-opencode-directory")


def _without_cookie(header: bytes) -> bytes:
    """A `Cookie` header without the door's own session cookie."""
    own = COOKIE_NAME.encode() + b"="
    kept = [part.strip() for part in header.split(b";")]
    return b"; ".join(part for part in kept if part and not part.startswith(own))


def refuse(refusal: Refuse, body: bool = True, close: bool = False) -> Response:
    headers = [(k.lower().encode(), v.encode()) for k, v in refusal.headers]
    if close:
        headers.append((b"connection", b"close"))
    if not body:
        return Response(refusal.status, headers)
    return Response(refusal.status, [*headers, *JSON], refusal.body())


def unreadable(status: int, why: str) -> Response:
    """The response to a request the listener could not read (or that failed in the door)."""
    return refuse(Refuse(status, "BadRequest" if status < 500 else "FrontDoorError", why))

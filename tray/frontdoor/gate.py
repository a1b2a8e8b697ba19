"""The checks every request to the front door passes first: the connection bound, sign-in links,
the credentials, the body bound; then where it goes."""

from __future__ import annotations

from collections.abc import Callable

from tray.core.door.auth import (
    COOKIE_NAME,
    LOGIN_PATH,
    BrowserLogins,
    authenticate,
    check_basic,
    cookie_header,
    needs_credentials,
)
from tray.core.door.errors import Refuse, body_too_large, too_many_connections, unauthorized
from tray.core.door.phases import Credentials
from tray.frontdoor.config import DoorConfig
from tray.frontdoor.exchange import Request, Response
from tray.frontdoor.wire import refuse
from tray.generations.events import StreamFormat
from tray.generations.v1 import V1

# Where a request goes after its checks, unless it is an event stream.
WEBSOCKET = "websocket"
FORWARD = "forward"


class Gate:
    def __init__(
        self,
        credentials: Credentials,
        config: Callable[[], DoorConfig],
        connections: Callable[[], int],
        clock: Callable[[], float],
        remember: Callable[[Request], None],
    ) -> None:
        """`credentials`: the public ones; `config`, `connections` (open now) and `clock`: read
        at each request; `remember` is told of each request let in."""
        self.credentials = credentials
        self.logins = BrowserLogins()
        self._config = config
        self._connections = connections
        self._clock = clock
        self._remember = remember

    def rotate(self, credentials: Credentials) -> None:
        """New public credentials: the old ones, and the sign-ins they made, let in no more."""
        self.credentials = credentials
        self.logins.revoke_all()

    def screen(self, request: Request) -> Response | StreamFormat | str:
        """A refusal (or a sign-in's response), or where the request goes (an event stream's
        format, `WEBSOCKET` or `FORWARD`)."""
        config = self._config()
        if self._connections() > config.max_connections:
            return refuse(too_many_connections(config.max_connections), close=True)
        if request.path.startswith(LOGIN_PATH + "/") and request.method == "GET":
            return self._login(request)
        needs = needs_credentials(request.method, request.path)
        if needs and not self._authenticated(request):
            return refuse(unauthorized(), body=False)
        self._remember(request)
        too_large = body_too_large(request.content_length, config.max_body_bytes)
        if too_large is not None:
            return refuse(too_large, close=True)
        if (request.header("upgrade") or "").lower() == "websocket":
            return WEBSOCKET
        return V1.stream_format(request.method, request.path) or FORWARD

    def _authenticated(self, request: Request) -> bool:
        authorization = request.header("authorization")
        if authorization is not None and check_basic(authorization, self.credentials):
            return True  # the usual case, without reading the query and the cookies
        kind = authenticate(
            authorization,
            request.query.get("auth_token"),
            request.cookies.get(COOKIE_NAME),
            self.credentials,
            self.logins,
        )
        return kind is not None

    def _login(self, request: Request) -> Response:
        token = request.path[len(LOGIN_PATH) + 1 :]
        redeemed = self.logins.redeem(token, self._clock())
        if redeemed is None:
            return refuse(
                Refuse(
                    403,
                    "LoginExpired",
                    "this sign-in link was used already or has expired: use Open in browser "
                    "in the tray menu again",
                )
            )
        cookie, target = redeemed
        return Response(
            303,
            [
                (b"location", target.encode()),
                (b"set-cookie", cookie_header(cookie).encode()),
                (b"cache-control", b"no-store"),
                (b"referrer-policy", b"no-referrer"),
            ],
        )

"""Who may come in: the door's credentials (Basic, `?auth_token=`) and the browser's one-time
login and the session cookie it turns into."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl, urlencode, urlsplit

from tray.core.door.phases import Credentials
from tray.core.door.requests import IDEMPOTENT

# A one-time browser login URL is good for this long, and once.
LOGIN_TTL_S = 30.0
LOGIN_PATH = "/.opencode-tray/login"
COOKIE_NAME = "opencode_tray_session"


class AuthKind(Enum):
    BASIC = "basic"
    TOKEN = "auth_token"
    COOKIE = "cookie"


def _basic_parts(value: str) -> tuple[str, str] | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def check_basic(header: str | None, credentials: Credentials) -> bool:
    if not header:
        return False
    # The usual case, the exact header these credentials make, without decoding it. (A username
    # with a colon never matches: decoded, it splits at its own colon.)
    if ":" not in credentials.username and hmac.compare_digest(
        header.encode(), credentials.basic().encode()
    ):
        return True
    parts = _basic_parts(header)
    return parts is not None and credentials.matches(*parts)


def check_auth_token(token: str | None, credentials: Credentials) -> bool:
    """The server's `?auth_token=`: base64 of 'user:password'."""
    parts = _basic_parts(f"Basic {token}") if token else None
    return parts is not None and credentials.matches(*parts)


def strip_query(query: str, names: Iterable[str]) -> str:
    """The query string without the parameters `names` (the door's credentials)."""
    drop = set(names)
    if "%" not in query and not any(name in query for name in drop):
        return query  # none of them, even percent-encoded: no need to parse it
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name in drop for name, _ in pairs):
        return query
    return urlencode([(k, v) for k, v in pairs if k not in drop])


def login_target(url_or_path: str) -> str:
    """The path (and query, less `auth_token`) a browser login redirects to; only this origin."""
    parts = urlsplit(url_or_path)
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    query = strip_query(parts.query, ("auth_token",))
    path = "/" + path.lstrip("/")  # never `//host`: a redirect stays on the door's origin
    return f"{path}?{query}" if query else path


@dataclass(frozen=True)
class Login:
    target: str
    expires_at: float


class BrowserLogins:
    """One-time login URLs for the browser and the session cookies they turn into.

    A login token is random, good for `LOGIN_TTL_S` seconds and once; redeeming it gives a new
    random cookie value that the door accepts until the credentials rotate or the app quits."""

    def __init__(self, token: Callable[[int], str] = secrets.token_urlsafe) -> None:
        self._token = token
        self._logins: dict[str, Login] = {}
        self._sessions: set[str] = set()

    def issue(self, target: str, now: float) -> str:
        self._expire(now)
        token = self._token(32)
        self._logins[token] = Login(login_target(target), now + LOGIN_TTL_S)
        return token

    def redeem(self, token: str, now: float) -> tuple[str, str] | None:
        """(cookie value, where to redirect) for a good token, which is then used up."""
        self._expire(now)
        found = next((t for t in self._logins if hmac.compare_digest(t, token)), None)
        if found is None:
            return None
        login = self._logins.pop(found)
        cookie = self._token(32)
        self._sessions.add(cookie)
        return cookie, login.target

    def valid(self, cookie: str | None) -> bool:
        if not cookie:
            return False
        return any(hmac.compare_digest(cookie, known) for known in self._sessions)

    def revoke_all(self) -> None:
        self._logins.clear()
        self._sessions.clear()

    def pending(self) -> int:
        return len(self._logins)

    def _expire(self, now: float) -> None:
        for token in [t for t, login in self._logins.items() if login.expires_at <= now]:
            del self._logins[token]


def cookie_header(value: str) -> str:
    """The `Set-Cookie` for a browser session: HttpOnly, SameSite=Strict, this origin only."""
    return f"{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict"


# What a browser fetches without credentials, by the spec: the page's `<link rel="manifest">`
# (no `crossorigin="use-credentials"`). A static file of the web app, the same for everyone.
CREDENTIAL_FREE = frozenset({"/site.webmanifest"})


def needs_credentials(method: str, path: str) -> bool:
    return not (method in IDEMPOTENT and path in CREDENTIAL_FREE)


def authenticate(
    authorization: str | None,
    auth_token: str | None,
    cookie: str | None,
    credentials: Credentials,
    logins: BrowserLogins,
) -> AuthKind | None:
    """How the caller proved who it is, or None (401). Each present proof is checked."""
    if authorization and check_basic(authorization, credentials):
        return AuthKind.BASIC
    if auth_token and check_auth_token(auth_token, credentials):
        return AuthKind.TOKEN
    if cookie and logins.valid(cookie):
        return AuthKind.COOKIE
    return None

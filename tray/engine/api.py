"""The server's REST API, as far as the app uses it; every failure becomes a `Cause`."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Generator
from typing import Any

import httpx

from tray.core import causes
from tray.core.causes import Cause
from tray.core.resume import SessionReport, classify
from tray.generations.events import SessionSummary
from tray.generations.generation import Generation
from tray.generations.v1 import V1

REQUEST_TIMEOUT_S = 5.0


class ApiError(Exception):
    def __init__(self, cause: Cause) -> None:
        super().__init__(cause.text)
        self.cause = cause


class CurrentCredentials(httpx.Auth):
    """HTTP Basic auth with the (username, password) that `current` gives at each request, so a
    new password applies at once to every request, event streams included."""

    def __init__(self, current: Callable[[], tuple[str, str]]) -> None:
        self._current = current

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        username, password = self._current()
        yield from httpx.BasicAuth(username, password).auth_flow(request)


def no_tls() -> ssl.SSLContext:
    """A TLS context that trusts no certificate: the app speaks plain HTTP to 127.0.0.1, so any
    TLS handshake is a mistake and fails. httpx's default loads certifi's CA bundle into every
    client instead (2.7 MiB in a fresh interpreter, about 0.6 MiB of the idle app's RSS)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies hostnames and certificates


def make_client(base_url: str, auth: httpx.Auth) -> httpx.AsyncClient:
    """A client for one server; stream reads have no timeout (the heartbeat watchdog rules)."""
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        timeout=httpx.Timeout(REQUEST_TIMEOUT_S),
        verify=no_tls(),
        trust_env=False,  # loopback only: never through a proxy from the environment
    )


def error_cause(
    error: Exception, url: str, broken: Callable[[str], Cause] = causes.request_failed
) -> Cause:
    """What a transport error means for the user; `broken` words a lost connection."""
    if isinstance(error, httpx.ConnectError):
        return causes.connection_refused(url)
    if isinstance(error, httpx.TimeoutException):
        return broken(f"no answer within {REQUEST_TIMEOUT_S:.0f} s")
    return broken(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)


def status_cause(response: httpx.Response) -> Cause | None:
    if response.status_code == 401:
        return causes.wrong_password()
    if response.status_code >= 400:
        return causes.http_error(response.status_code, response.reason_phrase)
    return None


class ServerApi:
    """The REST requests of the generation `gen` speaks."""

    def __init__(self, client: httpx.AsyncClient, gen: Generation = V1) -> None:
        self.client = client
        self.gen = gen

    async def _get_json(self, path: str) -> Any:
        return await self._request("GET", path)

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self.client.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise ApiError(error_cause(error, str(self.client.base_url))) from error
        cause = status_cause(response)
        if cause is not None:
            raise ApiError(cause)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            kind = response.headers.get("content-type", "no content type")
            raise ApiError(causes.http_error(response.status_code, f"not JSON ({kind})")) from error

    async def health(self) -> str:
        """The server's version, from its health request."""
        body = await self._get_json(self.gen.health_path)
        version = self.gen.health_version(body)
        if version is None:
            raise ApiError(causes.http_error(200, f"unexpected health answer {str(body)[:80]}"))
        return version

    async def busy_sessions(self) -> dict[str, Any]:
        """Only sessions that are not idle."""
        body = await self._get_json(self.gen.busy_path)
        return body if isinstance(body, dict) else {}

    async def sessions(self) -> list[SessionSummary]:
        """The server's sessions, newest first."""
        body = await self._get_json(self.gen.sessions_path(""))
        listed = body if isinstance(body, list) else []
        found = (self.gen.summary(s) for s in listed if isinstance(s, dict))
        return [s for s in found if s is not None]

    async def session(self, session_id: str) -> dict[str, Any] | None:
        """One session; None when the server says it does not exist (404)."""
        try:
            body = await self._get_json(self.gen.session_path(session_id))
        except ApiError as error:
            if error.cause.facts.get("status") == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    async def messages(self, session_id: str) -> list[dict[str, Any]]:
        """A session's messages, oldest first."""
        body = await self._get_json(self.gen.messages_path(session_id))
        return [m for m in body if isinstance(m, dict)] if isinstance(body, list) else []

    async def pending(self, kind: str) -> list[dict[str, Any]]:
        """The permission or question requests waiting for the user."""
        body = await self._get_json(self.gen.pending_paths[kind])
        return [p for p in body if isinstance(p, dict)] if isinstance(body, list) else []

    async def session_report(
        self, session_id: str, busy: dict[str, Any] | None = None
    ) -> SessionReport:
        """Resync one session as the official clients do, and say what state it is in."""
        info = await self.session(session_id)
        if info is None:
            return classify(session_id, None, [], {}, gen=self.gen)
        return classify(
            session_id,
            info,
            await self.messages(session_id),
            busy if busy is not None else await self.busy_sessions(),
            permissions=await self.pending("permission"),
            questions=await self.pending("question"),
            gen=self.gen,
        )

    async def abort(self, session_id: str) -> None:
        """End the session's turn."""
        await self._request("POST", self.gen.abort_path(session_id))

    async def prompt_async(self, session_id: str, text: str) -> None:
        """Start a turn; the server answers at once."""
        await self._request("POST", *self.gen.prompt(session_id, text))

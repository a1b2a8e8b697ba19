"""The web app in a real browser: Debian's chromium driven by Playwright (`executable_path`;
Playwright's own browser download is not used), a fresh profile each time, no stored
credentials.

    async with WebClient() as web:
        page = await web.open(url)                 # the page and every response are recorded
        await web.wait_text("my session title")
        web.challenges()                           # 401s with a Basic challenge: a sign-in box

A request that meets a Basic challenge is where a person's browser shows its "Sign in" box.
Headless Chromium with no credentials leaves such a request pending for ever (nothing to see);
so, unless real credentials are given, the browser is given a stand-in's wrong ones, the answer
a person would type into a box they cannot fill in: each challenge then shows as a response
`401` with `WWW-Authenticate: Basic`. `challenges()` lists them (not those of requests made
without credentials, such as the web manifest's, for which no browser asks), `refused()` every
401.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Response,
    async_playwright,
)
from playwright.async_api import (
    Error as PlaywrightError,
)

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Requests a browser makes with credentials mode "omit": `<link rel="manifest">` without
# `crossorigin="use-credentials"`, as the web app has it.
NO_CREDENTIALS = frozenset({"manifest"})


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM} (./dev test installs Debian's chromium)")


@dataclass(frozen=True)
class Seen:
    at: float
    status: int
    url: str
    challenge: bool  # a 401 asking for Basic credentials


class WebClient:
    def __init__(self, http_credentials: tuple[str, str] | None = None) -> None:
        self.http_credentials = http_credentials or ("nobody", secrets.token_urlsafe(12))
        self.responses: list[Seen] = []
        self.failed: list[str] = []  # requests that got no response at all
        self.console_errors: list[str] = []
        self.navigations: list[str] = []
        self._profile = Path(tempfile.mkdtemp(prefix="tray-chromium-"))
        self._pw: Playwright | None = None
        self._context: BrowserContext | None = None
        self._browser: Browser | None = None

    async def __aenter__(self) -> WebClient:
        require_chromium()
        self._pw = await async_playwright().start()
        username, password = self.http_credentials
        self._context = await self._pw.chromium.launch_persistent_context(
            str(self._profile),
            executable_path=CHROMIUM,
            args=FLAGS,
            headless=True,
            http_credentials={"username": username, "password": password},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            if self._context is not None:
                await self._context.close()
        if self._pw is not None:
            await self._pw.stop()
        shutil.rmtree(self._profile, ignore_errors=True)

    async def open(self, url: str, within: float = 90.0) -> Page:
        """Navigate to `url`; returns once the answer to the navigation came (its assets and
        scripts load after: wait for what the page shows)."""
        assert self._context is not None
        page = self._context.pages[0] if self._context.pages else await self._context.new_page()
        page.on("response", self._on_response)
        page.on("requestfailed", lambda request: self.failed.append(request.url))
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on(
            "framenavigated",
            lambda frame: self.navigations.append(frame.url) if frame is page.main_frame else None,
        )
        try:
            await page.goto(url, wait_until="commit", timeout=within * 1000)
        except PlaywrightError as error:
            if "ERR_HTTP_RESPONSE_CODE_FAILURE" in str(error):
                return page  # an error page (a 401, say): its response is recorded
            if "ERR_INVALID_AUTH_CREDENTIALS" not in str(error):
                raise
            # The page itself answered 401 with a Basic challenge: Playwright, which answers
            # no dialog, fails the navigation where a person would get the sign-in box.
            self.responses.append(Seen(time.monotonic(), 401, url, challenge=True))
        return page

    async def wait_for(self, check: Callable[[], object], within: float = 30.0) -> None:
        """Until `check()` is truthy (what the browser records arrives with its events)."""
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not within {within:.0f} s: {getattr(check, '__name__', check)}; responses: "
                    f"{[(seen.status, seen.url) for seen in self.responses[-10:]]}"
                )
            await asyncio.sleep(0.1)

    def _on_response(self, response: Response) -> None:
        challenge = (
            response.status == 401
            and "basic" in response.headers.get("www-authenticate", "").lower()
            # fetched without credentials (no cookie either): a browser asks nobody for those
            and response.request.resource_type not in NO_CREDENTIALS
        )
        self.responses.append(Seen(time.monotonic(), response.status, response.url, challenge))

    def refused(self) -> list[str]:
        """Every 401, prompt or not."""
        return [seen.url for seen in self.responses if seen.status == 401]

    def challenges(self) -> list[str]:
        return [seen.url for seen in self.responses if seen.challenge]

    def page(self) -> Page:
        assert self._context is not None
        assert self._context.pages
        return self._context.pages[0]

    async def wait_text(self, text: str, within: float = 30.0) -> None:
        """The page shows `text` somewhere in its body."""
        try:
            await (
                self.page()
                .get_by_text(text, exact=False)
                .first.wait_for(state="visible", timeout=within * 1000)
            )
        except Exception as error:
            body = await self.page().inner_text("body")
            raise AssertionError(
                f"the page never showed {text!r} within {within:.0f} s "
                f"({type(error).__name__}); it shows: {body[:400]!r}; "
                f"401 challenges: {self.challenges()[:3]}"
            ) from None

    async def screenshot(self, path: Path) -> None:
        await self.page().screenshot(path=str(path))

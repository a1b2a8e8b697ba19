"""The server password, asked of the keyring without ever freezing the app.

A keyring may block its caller for as long as it shows an unlock prompt ("Choose password for
new keyring" on a fresh GNOME account, "Unlock login keyring" after an automatic login), or
forever if its backend hangs. So it is asked in a helper process (`tray.engine.keyring_helper`),
one call at a time, while the event loop goes on; after a timeout the app goes on with a
password for this run only, and if the keyring answers after all, its password is handed over
for the next server start. A helper still asking when the app quits is killed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tray.engine import keyring_helper, server_password
from tray.engine.server_password import ServerPassword
from tray.runtime.tasks import Tasks

log = logging.getLogger(__name__)

# What to do with a password that arrives: `late` is True when it came after the timeout (the
# running server keeps its password; this one is for its next start).
UsePassword = Callable[[ServerPassword, bool], None]


def timed_out(timeout_s: float) -> ServerPassword:
    """The per-run password used when the keyring has not answered within `timeout_s`."""
    warning = (
        f"The keyring did not answer within {timeout_s:.0f} s (is it asking for its password?). "
        "The server runs with a password for this run only: other clients must be given the new "
        "one. If the keyring answers later, its password is used from the next server restart on."
    )
    log.warning(warning)
    return ServerPassword(server_password.generate(), persistent=False, warning=warning)


class PasswordSource:
    """Asks the keyring one call at a time, in helper processes."""

    def __init__(self) -> None:
        self._turn = asyncio.Lock()
        self._asking = Tasks(None, _failed)

    async def obtain(self, timeout_s: float, use: UsePassword) -> None:
        """Give `use` the server password: the keyring's as soon as it answers (or a per-run one
        with a warning when there is no keyring), else a per-run one after `timeout_s`."""
        found = await self._ask("load", timeout_s, use)
        use(found or timed_out(timeout_s), False)

    async def rotate(self, timeout_s: float, use_late: UsePassword) -> ServerPassword | None:
        """A new password stored in the keyring (per-run when there is none), or None when the
        keyring has not answered within `timeout_s`; should it store one later, `use_late` gets it.
        """
        return await self._ask("rotate", timeout_s, use_late)

    async def close(self) -> None:
        """Stop asking: helpers still waiting for the keyring are killed."""
        await self._asking.cancel()

    async def _ask(self, call: str, timeout_s: float, use: UsePassword) -> ServerPassword | None:
        answer = self._asking.start(self._one_at_a_time(call), "keyring")
        try:
            return await asyncio.wait_for(asyncio.shield(answer), timeout_s)
        except TimeoutError:
            answer.add_done_callback(lambda done: _late(done, use))
            return None

    async def _one_at_a_time(self, call: str) -> ServerPassword:
        async with self._turn:
            try:
                return await keyring_helper.ask(call)
            except (OSError, keyring_helper.HelperFailed) as error:
                return server_password.per_run(str(error))


def _failed(error: BaseException, _name: str) -> None:
    log.error("asking the keyring failed", exc_info=error)


def _late(answer: asyncio.Future[ServerPassword], use: UsePassword) -> None:
    if answer.cancelled() or answer.exception() is not None:  # a failure is logged by `_failed`
        return
    found = answer.result()
    if found.persistent:
        log.info("the keyring answered after the timeout: its password is for the next start")
        use(found, True)

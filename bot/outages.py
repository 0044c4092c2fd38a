"""What makes a message wait instead of fail: Slack that cannot be reached, a database that
refuses writes. Neither is the message's fault; it is answered once they recover."""

from __future__ import annotations

import logging
import time

import aiohttp

from storage.db import refuses_writes

log = logging.getLogger(__name__)

DATABASE_REFUSED = "the database refused a write"
SLACK_UNREACHABLE = "Slack could not be reached"


def held_because(exc: BaseException) -> str | None:
    """Why a message whose answer failed is held for later (not failed, not tried again at
    once), or None: neither an unreachable Slack nor a database that refuses writes is the
    message's fault, and neither is over in a second. Slack first: a refused connection is
    an OSError, which the PostgreSQL driver's errors include too."""
    if isinstance(exc, aiohttp.ClientConnectionError):
        return SLACK_UNREACHABLE
    if refuses_writes(exc):
        return DATABASE_REFUSED
    return None


class SlackOutage:
    """Slack could not be reached: the messages held meanwhile are tried again after 2, 4,
    8 … 60 s (not every second, each with its own retries and log lines), and the outage is
    said once when it starts and once when it ends."""

    FIRST_WAIT_S = 2.0
    MAX_WAIT_S = 60.0

    def __init__(self) -> None:
        self.down = False
        self.retry_at = 0.0  # time.monotonic() after which held messages are tried again
        self._wait_s = self.FIRST_WAIT_S

    def held(self) -> bool:
        """A message could not be answered for it; True when this starts the outage."""
        started = not self.down
        self.down = True
        self.retry_at = time.monotonic() + self._wait_s
        self._wait_s = min(self._wait_s * 2, self.MAX_WAIT_S)
        return started

    def reached(self) -> None:
        """An answer went through."""
        if self.down:
            log.warning("Slack can be reached again; answering the messages held")
        self.down, self.retry_at, self._wait_s = False, 0.0, self.FIRST_WAIT_S

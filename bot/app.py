"""The desk's Bolt app: Bolt's `AsyncApp`, refusing malformed payloads before Bolt reads them.

HTTP requests are checked in `bot.http` before Bolt even parses them; Socket Mode frames
arrive already parsed and go straight to `async_dispatch`, so the same check runs here too.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import payloads

log = logging.getLogger(__name__)


class DeskApp(AsyncApp):
    """`AsyncApp` plus the signing secret `bot.http` verifies requests with."""

    def __init__(self, *, signing_secret: str, **kwargs: Any) -> None:
        super().__init__(signing_secret=signing_secret, **kwargs)
        self.verification_secret = signing_secret

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        problem = payloads.problem(req.body)
        if problem is not None:
            log.warning("malformed Slack payload refused", extra={"problem": problem})
            return BoltResponse(status=400, body='{"error": "malformed payload"}')
        return await super().async_dispatch(req)

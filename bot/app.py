"""The desk's Bolt app: Bolt's `AsyncApp`, refusing malformed payloads before Bolt reads them.

HTTP requests are checked in `bot.http` before Bolt even parses them. Socket Mode frames
arrive already parsed: `SocketModeHandler` checks them before Bolt builds its request (which
itself raises on some shapes, e.g. a numeric `team`), and `async_dispatch` checks again.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

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
        if req.body.get("type") == "app_rate_limited":  # (problem() saw an object)
            # Slack stopped sending this workspace's events for the rest of a minute: they are
            # lost, and operators must hear it (Bolt answers it 404, "unhandled").
            log.warning(
                "Slack dropped events: over the Events API rate limit",
                extra={"minute": str(req.body.get("minute_rate_limited"))[:20]},
            )
            return BoltResponse(status=200, body="")
        bad = payloads.bad_timestamp(req.body)
        if bad is not None:
            field, found = bad
            log.warning(
                "payload with a malformed timestamp ignored",
                extra={"field": field, "found": found},
            )
            # Acked (200): Slack would send a refused event again; nothing is recorded.
            return BoltResponse(status=200, body="")
        return await super().async_dispatch(req)

    def _handle_unmatched_requests(self, req: AsyncBoltRequest, resp: BoltResponse) -> BoltResponse:
        """A well-formed request no listener takes: one log line (Bolt's own warning is a
        multi-line suggestion of listener code, which quotes the payload)."""
        body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
        event = body.get("event")
        if not isinstance(event, dict):
            event = {}
        log.info(
            "request not handled",
            extra={
                "type": str(body.get("type") or "")[:40],
                "event_type": str(event.get("type") or "")[:40],
                "command": str(body.get("command") or "")[:40],
            },
        )
        return resp


class SocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler; a malformed frame is acked empty with one log line."""

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        problem = payloads.problem(req.payload)
        if problem is not None:
            log.warning("malformed Slack payload refused", extra={"problem": problem})
            # Acked, so Slack does not send it again; nothing else is done with it.
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await super().handle(client, req)  # type: ignore[arg-type]

"""The App Home tab: an employee's own tickets; for staff, also the open queue."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot.staff import StaffDesk

log = logging.getLogger(__name__)


def register(app: AsyncApp, staff: StaffDesk) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(ack: AsyncAck, event: dict[str, Any]) -> None:
        await ack()
        user = event.get("user")
        if event.get("tab", "home") != "home" or not isinstance(user, str):
            return  # the Messages tab is the DM, answered like any DM
        try:
            await staff.publish_home(user)
        except SlackApiError as exc:
            log.warning(
                "App Home not published", extra={"user": user, "error": exc.response.get("error")}
            )

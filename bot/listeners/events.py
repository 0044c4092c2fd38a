"""Event listeners: record what the desk should answer, then ack. Nothing slow happens here."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.intake import Intake


def register(app: AsyncApp, intake: Intake) -> None:
    @app.event("message")
    async def on_message(
        ack: AsyncAck, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await intake.message(event, event_id=body.get("event_id"), bot_user_id=context.bot_user_id)
        await ack()

    @app.event("app_mention")
    async def on_mention(
        ack: AsyncAck, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await intake.mention(event, event_id=body.get("event_id"), bot_user_id=context.bot_user_id)
        await ack()

"""Slash command listeners: /research, /debate, /support-report.

Before the ack, and nothing slow: `bot.commands` takes the command (parses it, checks who may
run it, records it for the worker); the ack carries its answer privately.
"""

from __future__ import annotations

import uuid
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.commands import COMMANDS, Commands, Request


def register(app: AsyncApp, commands: Commands) -> None:
    async def on_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        taken = await commands.take(
            Request(
                name=str(command.get("command") or ""),
                text=str(command.get("text") or ""),
                user=str(command.get("user_id") or ""),
                channel=str(command.get("channel_id") or ""),
                key=str(command.get("trigger_id") or f"cmd-{uuid.uuid4().hex}"),
                response_url=command.get("response_url"),
            )
        )
        await ack(response_type="ephemeral", text=taken.answer)

    for name in COMMANDS:
        app.command(name)(on_command)

"""Event listeners: record what the desk should answer, then ack. Nothing slow happens here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.intake import Intake


class Record(Protocol):
    """An `Intake` method that records one kind of event (`Intake.message`, …)."""

    def __call__(
        self, event: dict[str, Any], *, event_id: str | None, bot_user_id: str | None
    ) -> Awaitable[int | None]: ...


def recording(record: Record) -> Callable[..., Awaitable[None]]:
    """The listener of an event that `record` keeps in the inbox: recorded, then acked."""

    async def on_event(
        ack: AsyncAck, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await record(event, event_id=body.get("event_id"), bot_user_id=context.bot_user_id)
        await ack()

    return on_event


def register(app: AsyncApp, intake: Intake) -> None:
    app.event("message")(recording(intake.message))
    app.event("app_mention")(recording(intake.mention))

    @app.event("agent_session_stopped")
    async def on_session_stopped(ack: AsyncAck, event: dict[str, Any]) -> None:
        """Slack's stop control on the desk's session: recorded for the worker, which cancels
        the run as for the Stop button and then sets the session back to active."""
        await intake.stop_session(event)
        await ack()

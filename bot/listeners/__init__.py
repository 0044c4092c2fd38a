"""Bolt listeners, one module per kind, registered from one place."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.commands import Commands
from bot.intake import Intake
from bot.listeners import actions, assistant, events, home, tickets
from bot.listeners import commands as command_listeners
from bot.outages import held_because
from bot.staff import StaffDesk

log = logging.getLogger(__name__)


def register_listeners(app: AsyncApp, intake: Intake, staff: StaffDesk, commands: Commands) -> None:
    assistant.register(app, intake, staff)  # before `message`: assistant events first
    events.register(app, intake)
    actions.register(app, staff, intake)
    home.register(app, staff)
    tickets.register(app, intake, staff.slack)
    command_listeners.register(app, commands)
    app.error(listener_failed)


async def listener_failed(error: Exception) -> None:
    """A listener that could not finish: nothing was acked, Bolt answers 500 and Slack sends the
    request again. The database refusing writes (a full disk, an outage) or Slack's API out
    of reach is one log line, naming which; anything else is a bug, logged with its
    traceback."""
    held = held_because(error)
    if held is not None:
        log.warning(
            f"request not recorded: {held}; Slack will send it again",
            extra={"error": type(error).__name__},
        )
        return
    log.error("a listener failed", exc_info=error)

"""Bolt listeners, one module per kind, registered from one place."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp

from bot.commands import Commands
from bot.intake import Intake
from bot.listeners import actions, assistant, events, home, tickets
from bot.listeners import commands as command_listeners
from bot.outages import held_because
from bot.slack import SlackGateway
from bot.staff import StaffDesk

log = logging.getLogger(__name__)


def register_listeners(app: AsyncApp, intake: Intake, staff: StaffDesk, commands: Commands) -> None:
    assistant.register(app, intake, staff)  # before `message`: assistant events first
    events.register(app, intake)
    actions.register(app, staff, intake)
    home.register(app, staff)
    tickets.register(app, intake, staff.slack)
    command_listeners.register(app, commands)
    app.error(listener_failed_for(staff.slack))


NOT_RECORDED = (
    "Sorry, I couldn't take that just now (our side is briefly unavailable), so nothing was "
    "done. Please try again in a minute."
)


def listener_failed_for(
    slack: SlackGateway,
) -> Callable[[Exception, dict[str, Any]], Awaitable[BoltResponse | None]]:
    """The app's error handler (see `listener_failed`), telling users through `slack`."""

    async def handler(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        return await listener_failed(error, body, slack)

    return handler


async def listener_failed(
    error: Exception, body: dict[str, Any], slack: SlackGateway
) -> BoltResponse | None:
    """A listener that could not finish: nothing was acked and Bolt answers 500. The database
    refusing writes (a full disk, an outage) or Slack's API out of reach is one log line,
    naming which; anything else is a bug, logged with its traceback.

    Slack sends an event again after a 500, but not a click, a slash command or a form: their
    user is told privately that nothing was done and to try again (a command in its answer,
    a click by its response_url, both acked; a form stays open, with Slack's own error)."""
    held = held_because(error)
    if held is None:
        log.error("a listener failed", exc_info=error)
        return None
    extra = {"error": type(error).__name__}
    if "event" in body:
        log.warning(f"request not recorded: {held}; Slack will send it again", extra=extra)
        return None
    log.warning(f"request not recorded: {held}; its user was asked to try again", extra=extra)
    if body.get("command"):
        return BoltResponse(status=200, body=NOT_RECORDED)
    if isinstance(body.get("response_url"), str):  # a click: the note says it, not an error mark
        await slack.respond(body["response_url"], NOT_RECORDED)
        return BoltResponse(status=200, body="")
    return None

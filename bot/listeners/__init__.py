"""Bolt listeners, one module per kind, registered from one place."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.intake import Intake
from bot.listeners import actions, commands, events, home, tickets
from bot.listeners.commands import CommandOptions
from bot.staff import StaffDesk


def register_listeners(
    app: AsyncApp, intake: Intake, staff: StaffDesk, commands_options: CommandOptions | None = None
) -> None:
    events.register(app, intake)
    actions.register(app, staff, intake)
    home.register(app, staff)
    tickets.register(app, intake, staff.slack)
    commands.register(
        app, intake, commands_options or CommandOptions(), is_staff=staff.directory.is_staff
    )

"""Bolt listeners, one module per kind, registered from one place."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.commands import Commands
from bot.intake import Intake
from bot.listeners import actions, assistant, events, home, tickets
from bot.listeners import commands as command_listeners
from bot.staff import StaffDesk


def register_listeners(app: AsyncApp, intake: Intake, staff: StaffDesk, commands: Commands) -> None:
    assistant.register(app, intake, staff)  # before `message`: assistant events first
    events.register(app, intake)
    actions.register(app, staff, intake)
    home.register(app, staff)
    tickets.register(app, intake, staff.slack)
    command_listeners.register(app, commands)

"""Bolt listeners, one module per kind, registered from one place."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.intake import Intake
from bot.listeners import events


def register_listeners(app: AsyncApp, intake: Intake) -> None:
    events.register(app, intake)

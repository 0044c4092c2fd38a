"""Tickets from anywhere: a 🎫 reaction on a message, the "Create support ticket" message
shortcut, and the App Home's "New request" form.

Like messages, each is only recorded in the inbox before the ack (once per message or form,
whichever way and however often it is asked for); the worker fetches the message, opens the
ticket and answers in the message's thread, or in a new DM thread for the form.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.intake import TICKET_LIMIT_NOTE, Intake, TicketLimitReached
from bot.mrkdwn import Mrkdwn
from bot.payloads import slack_id, view_value
from bot.slack import SlackGateway
from storage.tickets import PRIORITIES

log = logging.getLogger(__name__)

OPENED = Mrkdwn(
    ":ticket: Got it: I'm opening a support ticket for that message and will answer in its thread."
)
OPENED_FOR_AUTHOR = Mrkdwn(
    ":ticket: Got it: I'm opening a support ticket for that message. Its author gets the answer "
    "in a direct message, since it may involve their account; the thread gets a short note."
)
RELAYING = Mrkdwn(":outbox_tray: Sending that message to the user, with your name on it.")
NOT_IN_STAFF_THREAD = (
    "Reply to user works on a message in the staff thread of an escalation: it sends that "
    "message to the person who asked."
)
NOT_HERE = (
    "I open tickets from messages in channels I'm in, not from direct messages or the staff "
    "channel. To ask me something, write to me directly."
)
NOT_A_PERSON = "I open tickets for people's messages only, not for messages from apps."


def register(app: AsyncApp, intake: Intake, slack: SlackGateway) -> None:
    """Every way to open a ticket from outside a conversation with the desk."""
    _register_reaction(app, intake, slack)
    _register_ticket_shortcut(app, intake, slack)
    _register_reply_shortcut(app, intake, slack)
    _register_request_form(app, intake, slack)


_NOTICES: set[asyncio.Task[None]] = set()  # courtesy notes sent after the ack


def _register_reaction(app: AsyncApp, intake: Intake, slack: SlackGateway) -> None:
    """A 🎫 reaction on a message opens a ticket for it."""

    @app.event("reaction_added")
    async def on_reaction(
        ack: AsyncAck, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        try:
            await intake.reaction(
                event, event_id=body.get("event_id"), bot_user_id=context.bot_user_id
            )
        except TicketLimitReached:
            # Told privately where they reacted, once the ack is out (a courtesy: Slack's
            # rate limits must not hold the ack back).
            channel = str((event.get("item") or {}).get("channel") or "")
            note = TICKET_LIMIT_NOTE.format(limit=intake.options.tickets_per_hour)
            task = asyncio.create_task(slack.post_ephemeral(channel, str(event["user"]), note))
            _NOTICES.add(task)
            task.add_done_callback(_NOTICES.discard)
        await ack()


def _register_ticket_shortcut(app: AsyncApp, intake: Intake, slack: SlackGateway) -> None:
    """The "Create support ticket" message shortcut."""

    @app.shortcut(blocks.CREATE_TICKET)
    async def on_shortcut(
        ack: AsyncAck, shortcut: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        message = shortcut.get("message") or {}
        channel = slack_id(shortcut.get("channel"))
        ts, author = message.get("ts"), message.get("user")
        user = slack_id(shortcut.get("user")) or ""
        response_url = shortcut.get("response_url")
        if not channel or not isinstance(ts, str):
            log.warning("ticket shortcut without a message", extra={"user": user})
            await ack()
            return
        if channel.startswith("D") or channel == intake.options.staff_channel:
            await _ack_and_tell(ack, slack, response_url, NOT_HERE)
            return
        if (
            message.get("bot_id")
            or not isinstance(author, str)
            or not author
            or author == context.bot_user_id
        ):
            await _ack_and_tell(ack, slack, response_url, NOT_A_PERSON)
            return
        thread_ts = message.get("thread_ts")
        told: str = OPENED if user == author else OPENED_FOR_AUTHOR
        try:
            await intake.ticket_from_message(
                source="shortcut",
                channel=channel,
                message_ts=ts,
                author=author,
                requested_by=user,
                text=str(message.get("text") or ""),
                thread_ts=thread_ts if isinstance(thread_ts, str) else None,
                bot_user_id=context.bot_user_id,
            )
        except TicketLimitReached:
            told = TICKET_LIMIT_NOTE.format(limit=intake.options.tickets_per_hour)
        await _ack_and_tell(ack, slack, response_url, told)


async def _ack_and_tell(
    ack: AsyncAck, slack: SlackGateway, response_url: object, text: str
) -> None:
    """Ack the shortcut, then tell the person who used it, privately (its response_url)."""
    await ack()
    if isinstance(response_url, str):
        await slack.respond(response_url, text)


def _register_reply_shortcut(app: AsyncApp, intake: Intake, slack: SlackGateway) -> None:
    """Staff's "Reply to user" shortcut on a message in an escalation's staff thread."""

    @app.shortcut(blocks.REPLY_TO_USER)
    async def on_reply_to_user(
        ack: AsyncAck, shortcut: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        message = shortcut.get("message") or {}
        channel = slack_id(shortcut.get("channel"))
        ts, thread_ts, author = message.get("ts"), message.get("thread_ts"), message.get("user")
        response_url = shortcut.get("response_url")
        in_thread = (
            channel
            and isinstance(ts, str)
            and isinstance(thread_ts, str)
            and isinstance(author, str)
            and not message.get("bot_id")
            and await intake.store.tickets.by_staff_message(channel, thread_ts) is not None
        )
        if not in_thread:
            await _ack_and_tell(ack, slack, response_url, NOT_IN_STAFF_THREAD)
            return
        assert channel and isinstance(ts, str) and isinstance(thread_ts, str)
        await intake.relay_request(
            channel=channel,
            message_ts=ts,
            thread_ts=thread_ts,
            author=str(author),
            requested_by=slack_id(shortcut.get("user")) or "",
            text=str(message.get("text") or ""),
            bot_user_id=context.bot_user_id,
        )
        await _ack_and_tell(ack, slack, response_url, RELAYING)


def _register_request_form(app: AsyncApp, intake: Intake, slack: SlackGateway) -> None:
    """The App Home's "New request" button and the form it opens."""

    @app.action(blocks.NEW_REQUEST)
    async def on_new_request(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        trigger_id = body.get("trigger_id")
        if not isinstance(trigger_id, str):
            return
        try:
            await slack.open_view(trigger_id, blocks.request_modal())
        except SlackApiError as exc:
            log.warning(
                "request form not opened",
                extra={"user": slack_id(body.get("user")), "error": exc.response.get("error")},
            )

    @app.view(blocks.NEW_REQUEST)
    async def on_request_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        about = _field(values, blocks.REQUEST_ABOUT).strip()
        description = _field(values, blocks.REQUEST_DESCRIPTION).strip()
        urgency = _field(values, blocks.REQUEST_URGENCY) or "normal"
        errors: dict[str, str] = {}
        if not about:
            errors[blocks.REQUEST_ABOUT] = "Say in a few words what it is about."
        elif len(about) > blocks.ABOUT_CHARS:
            errors[blocks.REQUEST_ABOUT] = f"Keep it under {blocks.ABOUT_CHARS} characters."
        if len(description) > blocks.DESCRIPTION_CHARS:
            errors[blocks.REQUEST_DESCRIPTION] = (
                f"Keep it under {blocks.DESCRIPTION_CHARS:,} characters."
            )
        if urgency not in PRIORITIES:
            errors[blocks.REQUEST_URGENCY] = "Pick one of the urgencies."
        user = slack_id(body.get("user"))
        view_id = view.get("id")
        if not errors and (not user or not isinstance(view_id, str)):
            log.warning("request form without a user or a view id")
            await ack()
            return
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        assert user and isinstance(view_id, str)
        await intake.new_request(
            user_id=user, view_id=view_id, about=about, description=description, urgency=urgency
        )
        await ack()


def _field(values: dict[str, Any], block_id: str) -> str:
    return view_value(values, block_id, blocks.REQUEST_FIELD)

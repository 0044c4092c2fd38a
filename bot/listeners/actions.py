"""Interactivity: the staff message's buttons (claim, resolve, priority, department), CSAT
ratings, and the requester's Confirm / Cancel of an acting tool (a refund).

Handlers are thin: read the click, let `bot.staff.StaffDesk` decide and update Slack, tell the
person who clicked when it did not work (ephemeral). They run before the ack
(`process_before_response=True`): a few database writes and Slack calls, well within 3 s.
Confirm / Cancel only records the click in the inbox, like a message: the worker answers it
(who may confirm, whether it is still valid, the refund itself), exactly once per click.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import blocks
from bot.intake import Intake
from bot.staff import Outcome, StaffDesk

log = logging.getLogger(__name__)


def register(app: AsyncApp, staff: StaffDesk, intake: Intake) -> None:
    def on_ticket_button(act: Callable[[int, str], Awaitable[Any]]) -> Callable[..., Any]:
        """Claim and Resolve: the button's value is the ticket, the presser the staff member."""

        async def handler(
            ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
        ) -> None:
            await ack()
            ticket_id = _ticket_id(action)
            if ticket_id is not None:
                await _tell(staff, body, respond, await act(ticket_id, _user(body)))

        return handler

    app.action(blocks.CLAIM)(on_ticket_button(staff.claim))
    app.action(blocks.RESOLVE)(on_ticket_button(staff.resolve))

    @app.action(blocks.PRIORITY)
    async def on_priority(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        ticket_id, choice = _pair(action)
        if ticket_id is not None and choice is not None:
            outcome = await staff.set_priority(ticket_id, choice, _user(body))
            await _tell(staff, body, respond, outcome)

    @app.action(blocks.DEPARTMENT)
    async def on_department(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        ticket_id, choice = _pair(action)
        if ticket_id is not None and choice is not None:
            outcome = await staff.set_department(ticket_id, choice, _user(body))
            await _tell(staff, body, respond, outcome)

    def on_confirmation(answer: str) -> Callable[..., Any]:
        async def handler(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            value = _value(action)
            if value.isdigit():
                await intake.confirmation(
                    approval_id=int(value),
                    answer=answer,
                    user_id=_user(body),
                    action_ts=str(action.get("action_ts") or body.get("trigger_id") or ""),
                )
            else:
                log.warning("malformed action value", extra={"action_id": action.get("action_id")})
            await ack()

        return handler

    app.action(blocks.CONFIRM)(on_confirmation("confirm"))
    app.action(blocks.CANCEL)(on_confirmation("cancel"))

    @app.action(re.compile(blocks.CSAT_PATTERN))
    async def on_rating(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        ticket_id, score = _pair(action)
        channel, ts = _container(body)
        if ticket_id is not None and score is not None and score.isdigit() and channel and ts:
            outcome = await staff.rate(ticket_id, int(score), _user(body), (channel, ts))
            await _tell(staff, body, respond, outcome)


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _value(action: dict[str, Any]) -> str:
    """A button's value, or the value of the option picked in a select."""
    selected = action.get("selected_option") or {}
    return str(selected.get("value") or action.get("value") or "")


def _ticket_id(action: dict[str, Any]) -> int | None:
    value = _value(action)
    if not value.isdigit():
        log.warning("action without a ticket id", extra={"action_id": action.get("action_id")})
        return None
    return int(value)


def _pair(action: dict[str, Any]) -> tuple[int | None, str | None]:
    """Values like "12:urgent" (ticket id and choice)."""
    ticket, _, choice = _value(action).partition(":")
    if not ticket.isdigit() or not choice:
        log.warning("malformed action value", extra={"action_id": action.get("action_id")})
        return None, None
    return int(ticket), choice


def _container(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    return channel, container.get("message_ts")


async def _tell(
    staff: StaffDesk, body: dict[str, Any], respond: AsyncRespond, outcome: Outcome
) -> None:
    """Show `outcome.message` to the person who clicked, and only to them."""
    if not outcome.message:
        return
    if body.get("response_url"):
        await respond(text=outcome.message, response_type="ephemeral", replace_original=False)
        return
    channel, _ = _container(body)
    if channel:
        thread_ts = (body.get("container") or {}).get("thread_ts")
        await staff.slack.post_ephemeral(channel, _user(body), outcome.message, thread_ts)

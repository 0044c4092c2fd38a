"""Interactivity: the staff message's buttons (claim, resolve, priority, department), CSAT
ratings, and the requester's Confirm / Cancel of an acting tool (a refund): those only record
the click in the inbox, like a message; the worker answers it exactly once per click.

Handlers are thin: read the click, let `bot.staff.StaffDesk` decide and update Slack, tell the
person who clicked when it did not work (ephemeral). They run before the ack
(`process_before_response=True`): a few database writes and Slack calls, well within 3 s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot import blocks, knowledge
from bot.intake import Intake, NotOurButton
from bot.payloads import slack_id, view_value, whole_number
from bot.staff import NOT_STAFF, Outcome, StaffDesk

log = logging.getLogger(__name__)

KB_FORM_NOT_OPENED = "Slack did not open the article's form in time. Click Draft KB article again."
_NOT_OURS = Outcome(
    False, "That button is not one I sent, so I did nothing. Try the buttons again."
)


def register(app: AsyncApp, staff: StaffDesk, intake: Intake) -> None:
    """Every button, select and modal of the desk, grouped by who uses them."""
    _register_ticket_buttons(app, staff)
    _register_confirmations(app, staff, intake)
    _register_answer_feedback(app, staff, intake)
    _register_stop(app, staff, intake)
    _register_knowledge(app, staff, intake)
    _register_rejections(app, staff, intake)
    _register_ratings(app, staff)


def _register_ticket_buttons(app: AsyncApp, staff: StaffDesk) -> None:
    """The staff message's Claim, Resolve, priority and department."""

    def on_ticket_button(act: Callable[[int, str], Awaitable[Any]]) -> Callable[..., Any]:
        """Claim and Resolve: the button's value is the ticket, the presser the staff member."""

        async def handler(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            ticket_id = _ticket_id(action)
            outcome = _NOT_OURS if ticket_id is None else await act(ticket_id, _user(body))
            await _tell(staff, body, outcome)

        return handler

    app.action(blocks.CLAIM)(on_ticket_button(staff.claim))
    app.action(blocks.RESOLVE)(on_ticket_button(staff.resolve))

    def on_ticket_choice(act: Callable[[int, str, str], Awaitable[Outcome]]) -> Callable[..., Any]:
        """Priority and department: the option's value is the ticket and the choice."""

        async def handler(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            ticket_id, choice = _pair(action)
            if ticket_id is None or choice is None:
                await _tell(staff, body, _NOT_OURS)
                return
            await _tell(staff, body, await act(ticket_id, choice, _user(body)))

        return handler

    app.action(blocks.PRIORITY)(on_ticket_choice(staff.set_priority))
    app.action(blocks.DEPARTMENT)(on_ticket_choice(staff.set_department))


def _register_confirmations(app: AsyncApp, staff: StaffDesk, intake: Intake) -> None:
    """The requester's Confirm / Cancel of an acting tool, and staff's Approve."""

    def on_confirmation(answer: str) -> Callable[..., Any]:
        """Confirm / Cancel (and staff's Approve): recorded in the inbox like a message,
        answered by the worker."""

        async def handler(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            approval_id = whole_number(_value(action), 1)
            if approval_id is None:
                await ack()
                await _tell(staff, body, _NOT_OURS)
                return
            try:
                await intake.confirmation(
                    approval_id=approval_id,
                    answer=answer,
                    user_id=_user(body),
                    action_ts=_click_id(body, action),
                    message=_container(body),
                )
            except NotOurButton:
                await ack()
                await _tell(staff, body, _NOT_OURS)
                return
            await ack()

        return handler

    app.action(blocks.CONFIRM)(on_confirmation("confirm"))
    app.action(blocks.CANCEL)(on_confirmation("cancel"))

    # Staff's Approve: recorded like a Confirm; the worker checks who clicked.
    app.action(blocks.APPROVE)(on_confirmation("approve"))


def _register_answer_feedback(app: AsyncApp, staff: StaffDesk, intake: Intake) -> None:
    """Under an AI answer: 👍 / 👎, "Talk to a person", and "no thanks" after a 👎."""

    @app.action(blocks.ANSWER_FEEDBACK)
    async def on_feedback(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """👍 / 👎 under an AI answer: stored at once; a 👎 asks, privately, whether a person
        should take a look."""
        await ack()
        channel, ts = _container(body)
        choice = _value(action)
        answer = await intake.store.feedback.answer(channel, ts) if channel and ts else None
        if answer is None or choice not in ("good", "bad"):
            await _tell(staff, body, _NOT_OURS)
            return
        user = _user(body)
        if user != answer.requester:
            await _tell(staff, body, Outcome(False, "Only the person who asked can rate this."))
            return
        await intake.store.feedback.rate(answer.channel, answer.ts, user, helpful=choice == "good")
        log.info(
            "answer rated",
            extra={"ticket_id": answer.ticket_id, "helpful": choice == "good", "user": user},
        )
        if choice == "bad":
            thread_ts = (body.get("container") or {}).get("thread_ts")
            await staff.slack.post_ephemeral(
                answer.channel,
                user,
                blocks.HANDOVER_QUESTION,
                thread_ts,
                blocks=blocks.handover_offer(answer.ts),
            )

    @app.action(blocks.TALK_TO_PERSON)
    async def on_talk_to_person(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        """ "Talk to a person" under an answer, or yes after a 👎: recorded in the inbox like
        a message; the worker hands the ticket over once."""
        channel, message_ts = _container(body)
        value = _value(action)
        answer_ts = message_ts if value == "answer" else value
        if not channel or not answer_ts:
            await ack()
            await _tell(staff, body, _NOT_OURS)
            return
        inbox_id = await intake.handover(
            channel=channel,
            answer_ts=answer_ts,
            user_id=_user(body),
            action_ts=str(action.get("action_ts") or body.get("trigger_id") or ""),
            reason="The user asked for a person"
            if value == "answer"
            else "The user rated an answer unhelpful and asked for a person",
        )
        await ack()
        if inbox_id is None:
            await _tell(staff, body, _NOT_OURS)

    @app.action(blocks.NO_HANDOVER)
    async def on_no_handover(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await _tell(staff, body, Outcome(True, "OK. Thanks for telling us."))


def _register_stop(app: AsyncApp, staff: StaffDesk, intake: Intake) -> None:
    """Stop, under an answer while it is being written."""

    @app.action(blocks.STOP_ANSWER)
    async def on_stop(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Stop on an answer being written: recorded for the worker, which cancels the run."""
        await ack()
        channel, ts = _container(body)
        if not channel or not ts:
            await _tell(staff, body, _NOT_OURS)
            return
        if await intake.store.inbox.request_stop(channel, ts, _user(body)):
            log.info("stop requested", extra={"channel": channel, "user": _user(body)})
            return
        await _tell(
            staff,
            body,
            Outcome(
                False,
                "Nothing to stop: the answer is finished, or only the person who asked can "
                "stop it.",
            ),
        )


def _register_knowledge(app: AsyncApp, staff: StaffDesk, intake: Intake) -> None:
    """Staff's "Draft a KB article" button and the modal that publishes it."""

    @app.action(blocks.DRAFT_KB)
    async def on_draft_kb(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Staff only: a "drafting" modal at once; the worker puts the AI's draft in it."""
        await ack()
        ticket_id = _ticket_id(action)
        if ticket_id is None:
            await _tell(staff, body, _NOT_OURS)
            return
        if not await staff.directory.is_staff(_user(body)):
            await _tell(staff, body, Outcome(False, NOT_STAFF))
            return
        # Recorded first (the trigger id lasts 3 s; one insert takes milliseconds), then the
        # modal, named by the click: a crash in between leaves no "drafting…" modal behind.
        external_id = f"kb-{ticket_id}-{_click_id(body, action)}"
        if not await intake.kb_draft(
            ticket_id=ticket_id, external_id=external_id, user_id=_user(body)
        ):
            return  # a repeated delivery of the click: its modal is open already
        try:
            await staff.slack.open_view(
                str(body.get("trigger_id") or ""),
                blocks.kb_modal(ticket_id, external_id=external_id),
            )
        except SlackApiError as exc:
            log.warning(
                "KB article form not opened",
                extra={"ticket_id": ticket_id, "error": exc.response.get("error")},
            )
            await _tell(staff, body, Outcome(False, KB_FORM_NOT_OPENED))

    @app.view(blocks.DRAFT_KB)
    async def on_publish_kb(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        ticket_id = whole_number(str(view.get("private_metadata") or ""), 1)
        values = (view.get("state") or {}).get("values") or {}
        title = view_value(values, blocks.KB_TITLE, blocks.REQUEST_FIELD).strip()
        text = view_value(values, blocks.KB_BODY, blocks.REQUEST_FIELD).strip()
        errors = {}
        if not title:
            errors[blocks.KB_TITLE] = "An article needs a title."
        if not text:
            errors[blocks.KB_BODY] = "An article needs a text."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        user = _user(body)
        if ticket_id is None or not await staff.directory.is_staff(user):
            await ack(response_action="errors", errors={blocks.KB_BODY: NOT_STAFF})
            return
        await knowledge.publish(
            intake.store, ticket_id=ticket_id, title=title, body=text, author=user
        )
        await ack()


def _register_rejections(app: AsyncApp, staff: StaffDesk, intake: Intake) -> None:
    """Staff's Reject of an approval and the modal asking for the reason."""

    @app.action(blocks.REJECT)
    async def on_reject(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Staff's Reject opens a modal for the reason the requester will be told."""
        await ack()
        approval_id = whole_number(_value(action), 1)
        if approval_id is None:
            await _tell(staff, body, _NOT_OURS)
            return
        if not await staff.directory.is_staff(_user(body)):
            await _tell(staff, body, Outcome(False, NOT_STAFF))
            return
        channel, ts = _container(body)  # the card: checked again when the reason comes
        await staff.slack.open_view(
            str(body.get("trigger_id") or ""), blocks.reject_modal(approval_id, channel, ts)
        )

    @app.view(blocks.REJECT_VIEW)
    async def on_reject_reason(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        approval_id, card = blocks.reject_modal_card(str(view.get("private_metadata") or ""))
        values = (view.get("state") or {}).get("values") or {}
        reason = view_value(values, blocks.REJECT_REASON, blocks.REQUEST_FIELD).strip()
        if not reason or len(reason) > blocks.REASON_CHARS:
            await ack(
                response_action="errors",
                errors={blocks.REJECT_REASON: "Give the requester a short reason."},
            )
            return
        if approval_id is not None and isinstance(view.get("id"), str):
            try:
                await intake.confirmation(
                    approval_id=approval_id,
                    answer="reject",
                    user_id=_user(body),
                    action_ts=f"view-{view['id']}",
                    message=card,
                    reason=reason,
                )
            except NotOurButton:
                log.warning("rejection of an approval from another card ignored")
        await ack()


def _register_ratings(app: AsyncApp, staff: StaffDesk) -> None:
    """The CSAT rating asked for when a ticket is resolved."""

    @app.action(re.compile(blocks.CSAT_PATTERN))
    async def on_rating(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        ticket_id, choice = _pair(action)
        score = whole_number(choice or "", 1, 5)
        channel, ts = _container(body)
        if ticket_id is None or score is None or not channel or not ts:
            await _tell(staff, body, _NOT_OURS)
            return
        outcome = await staff.rate(ticket_id, score, _user(body), (channel, ts))
        await _tell(staff, body, outcome)


def _user(body: dict[str, Any]) -> str:
    return slack_id(body.get("user")) or ""


def _click_id(body: dict[str, Any], action: dict[str, Any]) -> str:
    """What tells one click from another (a redelivery of it has the same)."""
    return str(action.get("action_ts") or body.get("trigger_id") or "")


def _value(action: dict[str, Any]) -> str:
    """A button's value, or the value of the option picked in a select."""
    selected = action.get("selected_option") or {}
    return str(selected.get("value") or action.get("value") or "")


def _ticket_id(action: dict[str, Any]) -> int | None:
    ticket_id = whole_number(_value(action), 1)
    if ticket_id is None:
        log.warning("action without a ticket id", extra={"action_id": action.get("action_id")})
    return ticket_id


def _pair(action: dict[str, Any]) -> tuple[int | None, str | None]:
    """Values like "12:urgent" (ticket id and choice)."""
    ticket, _, choice = _value(action).partition(":")
    ticket_id = whole_number(ticket, 1)
    if ticket_id is None or not choice:
        log.warning("malformed action value", extra={"action_id": action.get("action_id")})
        return None, None
    return ticket_id, choice


def _container(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    channel = container.get("channel_id") or slack_id(body.get("channel"))
    return channel, container.get("message_ts")


async def _tell(staff: StaffDesk, body: dict[str, Any], outcome: Outcome) -> None:
    """Show `outcome.message` to the person who clicked, and only to them (a refusal is
    also one log line)."""
    if not outcome.ok:
        actions = body.get("actions")
        first = actions[0] if isinstance(actions, list) and actions else None
        action = first.get("action_id") if isinstance(first, dict) else None
        log.info("click refused", extra={"action": str(action)[:64], "user": _user(body)})
    if not outcome.message:
        return
    if body.get("response_url"):
        await staff.slack.respond(str(body["response_url"]), outcome.message)
        return
    channel, _ = _container(body)
    if channel:
        thread_ts = (body.get("container") or {}).get("thread_ts")
        await staff.slack.post_ephemeral(channel, _user(body), outcome.message, thread_ts)

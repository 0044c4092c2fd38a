"""Assistant threads (Slack's AI app view), through Bolt's `AsyncAssistant` middleware.

A started thread is recorded (so the worker shows a status while it works and titles the
thread with the ticket's subject), greeted, and given suggested prompts: staff get the
queue and the report, everyone else the common requests. The user's messages in the thread
are not handled here: they go on to the `message` listener and the inbox like any DM. The
channel the user is viewing (the thread's context) is recorded when it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncAssistant
from slack_bolt.response import BoltResponse

from bot.intake import Intake
from bot.mrkdwn import Mrkdwn
from bot.staff import StaffDesk

log = logging.getLogger(__name__)

GREETING = Mrkdwn(
    "Hi! I'm the support desk. Ask me about billing, refunds, technical problems or plans. "
    "I answer here as I work, and a person takes over whenever you ask."
)
STAFF_GREETING = Mrkdwn(
    "Hi! You're on the support staff. Ask me for the open queue, or type /support-report "
    "(with days=N for another period) for the desk's numbers: both answer here. Ask anything "
    "a customer would, to see what they get."
)
ASSISTANT_EVENTS = frozenset({"assistant_thread_started", "assistant_thread_context_changed"})
PROMPTS_TITLE = "Try one of these:"
PROMPTS = [
    {"title": "Check my invoices", "message": "What do I owe, and when is my next invoice due?"},
    {"title": "Ask for a refund", "message": "Can I get a refund for my last order?"},
    {"title": "Report a problem", "message": "Something is not working: can you help?"},
    {"title": "Talk to a person", "message": "I'd like to talk to a person, please."},
]
# Staff: the queue and the report, answered in the thread (a prompt only sends a message:
# the worker takes "/support-report" typed out as the command, and the queue request from
# staff only), then what customers ask most.
STAFF_PROMPTS = [
    {"title": "Show the open queue", "message": "Show the open queue"},
    {"title": "/support-report", "message": "/support-report"},
    {"title": "Service status", "message": "Is there an incident right now?"},
    {"title": "Refund policy", "message": "What is the refund policy?"},
]


def register(app: AsyncApp, intake: Intake, staff: StaffDesk) -> None:
    assistant = AsyncAssistant()

    @assistant.thread_started
    async def started(ack: AsyncAck, event: dict[str, Any]) -> None:
        await ack()
        thread = _thread(event)
        if thread is None:
            return
        channel, thread_ts, user, context = thread
        if not await intake.store.assistant_threads.start(channel, thread_ts, user, context):
            return  # a redelivery: greeted already
        is_staff = await staff.directory.is_staff(user)
        greeting = STAFF_GREETING if is_staff else GREETING
        await staff.slack.post_in_thread(channel, thread_ts, greeting)
        prompts = STAFF_PROMPTS if is_staff else PROMPTS
        await staff.slack.set_suggested_prompts(channel, thread_ts, prompts, PROMPTS_TITLE)
        log.info("assistant thread started", extra={"slack_thread": f"{channel}:{thread_ts}"})

    @assistant.thread_context_changed
    async def context_changed(ack: AsyncAck, event: dict[str, Any]) -> None:
        await ack()
        thread = _thread(event)
        if thread is not None:
            channel, thread_ts, _, context = thread
            await intake.store.assistant_threads.set_context(channel, thread_ts, context)

    @app.middleware
    async def drop_malformed(
        body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        """Bolt's assistant support fails (HTTP 500, and Slack retries) on an assistant event
        without its channel, thread and user: such an event is acked and dropped here."""
        event = body.get("event") if isinstance(body.get("event"), dict) else None
        if event and event.get("type") in ASSISTANT_EVENTS and _thread(event) is None:
            log.warning("malformed assistant event ignored", extra={"type": event.get("type")})
            return BoltResponse(status=200, body="")
        return await next()

    app.use(assistant)


def _thread(event: dict[str, Any]) -> tuple[str, str, str, str | None] | None:
    """(channel, thread_ts, user, context channel) of an assistant event, or None."""
    thread = event.get("assistant_thread")
    if not isinstance(thread, dict):
        return None
    channel, thread_ts, user = (thread.get(k) for k in ("channel_id", "thread_ts", "user_id"))
    if not all(isinstance(v, str) and v for v in (channel, thread_ts, user)):
        return None
    context = thread.get("context")
    context = context.get("channel_id") if isinstance(context, dict) else None
    return str(channel), str(thread_ts), str(user), context if isinstance(context, str) else None

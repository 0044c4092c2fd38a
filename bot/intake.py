"""Intake: decide whether a Slack event is for the desk, and record it in the inbox.

This is all that happens before Slack gets its ack, so it stays small: a few checks on the
event and one insert. Answering is the worker's job (`bot.worker`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.payloads import scrub
from storage.inbox import TicketAccepted
from storage.redaction import redact_secrets
from storage.store import Store

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4000
SECRETS_REMOVED = "secrets_removed"  # payload key: the kinds of secret intake removed

# Message subtypes that are noise for a support desk: edits, deletions, joins, topics, bots…
# A plain user message has no subtype; `file_share` and `thread_broadcast` carry user text.
ANSWERED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(\|[^>]*)?>")


TICKET = "ticket"  # inbox kind: a ticket asked for by a 🎫 reaction, a shortcut or the App Home
STAFF_REPLY = "staff_reply"  # inbox kind: a reply in the staff thread of an escalation


class NotOurButton(Exception):
    """A click whose button the desk did not send (a forged or stale value)."""


class TicketLimitReached(Exception):
    """Someone asked for more tickets (from messages, or with the App Home's form) than
    TICKETS_FROM_MESSAGES_PER_HOUR."""


TICKET_LIMIT_NOTE = (
    "You've asked for {limit} support tickets in the last hour (from messages or the New "
    "request form), the most I open for one person, so I didn't open this one. Try again "
    "later, or write to me directly."
)


@dataclass(frozen=True)
class IntakeOptions:
    support_channels: frozenset[str]
    ticket_emoji: str = "ticket"  # TICKET_EMOJI
    staff_channel: str | None = None  # ESCALATION_CHANNEL: a 🎫 there opens nothing
    tickets_per_hour: int = 10  # TICKETS_FROM_MESSAGES_PER_HOUR, per person asking; 0: no limit


def clean_user_text(raw: object, bot_user_id: str | None) -> tuple[str, dict[str, Any]]:
    """What someone wrote, made storable: secrets removed (before the first write), the desk's
    mention dropped, cut to `MAX_TEXT_CHARS`. Returns the text and the inbox payload notes
    (`SECRETS_REMOVED`, `truncated_at`) the reply reads to tell the user."""
    redacted = redact_secrets(_clean_text(scrub(raw) if isinstance(raw, str) else "", bot_user_id))
    text = redacted.text
    notes: dict[str, Any] = {}
    if redacted.changed:
        notes[SECRETS_REMOVED] = list(redacted.removed)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        notes["truncated_at"] = MAX_TEXT_CHARS
    return text, notes


class Intake:
    def __init__(
        self, store: Store, options: IntakeOptions, on_accepted: Callable[[], None]
    ) -> None:
        self.store = store
        self.options = options
        self.on_accepted = on_accepted

    async def message(
        self, event: dict[str, Any], *, event_id: str | None, bot_user_id: str | None
    ) -> int | None:
        """A `message` event: answered in support channels, DMs and threads with a ticket."""
        reason = _ignore_reason(event, bot_user_id)
        if reason:  # a malformed event is one line in the log; the rest is ordinary traffic
            level = logging.WARNING if reason.startswith(MALFORMED) else logging.DEBUG
            log.log(level, "ignored message", extra={"reason": reason, "event_id": event_id})
            return None
        channel = str(event["channel"])
        thread_ts = event.get("thread_ts")
        if await self._in_staff_thread(event):
            return await self._record(STAFF_REPLY, event, event_id, bot_user_id)
        is_dm = event.get("channel_type") == "im" or channel.startswith("D")
        mentioned = bool(bot_user_id) and f"<@{bot_user_id}>" in str(event.get("text") or "")
        if not (is_dm or mentioned or (channel in self.options.support_channels and not thread_ts)):
            # A thread reply elsewhere is answered only in a thread the desk is part of.
            if not thread_ts or not await self._known_thread(channel, thread_ts):
                return None
        return await self._record("message", event, event_id, bot_user_id)

    async def stop_session(self, event: dict[str, Any]) -> bool:
        """Slack's own stop control on an agent session (`agent_session_stopped`): the same
        stop as the Stop button, for the requester's own answer only. The messages Slack names,
        or, when it names none, the requester's answer being written in that thread."""
        channel, thread_ts = str(event.get("channel") or ""), str(event.get("thread_ts") or "")
        user = str(event.get("user") or "")
        if not channel or not thread_ts or not user:
            log.info("stop without a thread or user ignored", extra={"channel": channel})
            return False
        inbox = self.store.inbox
        named = [str(ts) for ts in event.get("streaming_message_ts") or [] if ts]
        if named:
            results = [await inbox.request_stop(channel, ts, user) for ts in named]
            stopped = any(results)
        else:
            stopped = await inbox.request_stop_in_thread(channel, thread_ts, user)
        extra = {"channel": channel, "thread_ts": thread_ts, "user": user}
        log.info("stop requested" if stopped else "nothing of theirs to stop", extra=extra)
        return stopped

    async def _known_thread(self, channel: str, thread_ts: str) -> bool:
        if await self.store.inbox.has_thread(channel, thread_ts):
            return True  # accepted, perhaps not answered yet
        return await self.store.tickets.by_thread(channel, thread_ts) is not None

    async def mention(
        self, event: dict[str, Any], *, event_id: str | None, bot_user_id: str | None
    ) -> int | None:
        """An `app_mention`: always answered (the same message's `message` event is a dup)."""
        reason = _ignore_reason(event, bot_user_id)
        if reason:
            return None
        kind = STAFF_REPLY if await self._in_staff_thread(event) else "message"
        return await self._record(kind, event, event_id, bot_user_id)

    async def _in_staff_thread(self, event: dict[str, Any]) -> bool:
        """A reply in the staff channel's thread of an escalation: staff working the ticket
        (an internal note, or a reply to relay), never a request for the desk to answer."""
        thread_ts = event.get("thread_ts")
        return (
            bool(self.options.staff_channel)
            and event["channel"] == self.options.staff_channel
            and isinstance(thread_ts, str)
            and thread_ts != event["ts"]
            and await self.store.tickets.by_staff_message(event["channel"], thread_ts) is not None
        )

    async def _record(
        self, kind: str, event: dict[str, Any], event_id: str | None, bot_user_id: str | None
    ) -> int | None:
        # Secrets are removed before the first write (the inbox); the reply says so once.
        text, payload = clean_user_text(event.get("text"), bot_user_id)
        ts = str(event["ts"])
        inbox_id = await self.store.inbox.accept(
            kind=kind,
            event_id=event_id,
            channel=str(event["channel"]),
            ts=ts,
            thread_ts=str(event.get("thread_ts") or ts),
            user_id=str(event["user"]),
            text=text,
            payload=payload,
        )
        return self._accepted(
            inbox_id, {"event_id": event_id, "channel": event["channel"], "ts": ts}
        )

    async def confirmation(
        self,
        *,
        approval_id: int,
        answer: str,
        user_id: str,
        action_ts: str,
        message: tuple[str | None, str | None],
        reason: str | None = None,
    ) -> int | None:
        """A click on Confirm / Cancel: recorded in the thread it answers (so it is answered
        in order with the thread's messages), by the worker, exactly once per click. Returns
        the inbox id; None for a repeated delivery. A click on anything but the message that
        asked this confirmation (`message`: its channel and ts) raises `NotOurButton`.

        Staff's Approve / Reject (`answer` "approve" / "reject", with the rejection's
        `reason`) go the same way, in the requester's thread; their message is the approval's
        staff card (where a refusal only the clicker sees is shown too)."""
        approval = await self.store.approvals.get(approval_id)
        extra = {"approval_id": approval_id, "user": user_id}
        if approval is None:
            log.warning("click on an unknown confirmation", extra=extra)
            raise NotOurButton(approval_id)
        review = answer in ("approve", "reject")
        asked_on = (
            (approval.staff_channel, approval.staff_ts)
            if review
            else (approval.channel, approval.message_ts)
        )
        if message != asked_on or asked_on[1] is None:
            # The button's value names the confirmation; the message it sits on must be the
            # one the desk posted for it, so a forged value cannot answer another question.
            log.warning("click on a message that did not ask this confirmation", extra=extra)
            raise NotOurButton(approval_id)
        inbox_id = await self.store.inbox.accept(
            kind="action",
            channel=approval.channel,
            ts=f"click-{action_ts}",  # one row per click; a redelivery of it is a duplicate
            thread_ts=approval.thread_ts,
            user_id=user_id,
            text=clean_user_text(reason, None)[0] if reason else answer,
            payload={
                "approval_id": approval_id,
                "answer": answer,
                "clicked_in": approval.staff_channel if review else None,
            },
        )
        return self._accepted(inbox_id, extra)

    async def reaction(
        self, event: dict[str, Any], *, event_id: str | None, bot_user_id: str | None
    ) -> int | None:
        """A `reaction_added`: the ticket emoji on a person's message opens a ticket for its
        author (the worker fetches the message). Any other reaction is ignored. Raises
        `TicketLimitReached` past TICKETS_FROM_MESSAGES_PER_HOUR for whoever reacted."""
        item = event.get("item") or {}
        channel, ts = item.get("channel"), item.get("ts")
        author, reactor = event.get("item_user"), event.get("user")
        if (
            str(event.get("reaction") or "").split("::")[0] != self.options.ticket_emoji
            or item.get("type") != "message"
            or not isinstance(channel, str)
            or not isinstance(ts, str)
            or channel == self.options.staff_channel
        ):
            return None
        if not isinstance(author, str) or not author or author == bot_user_id:
            log.info("ticket reaction ignored: not a person's message", extra={"channel": channel})
            return None
        return await self.ticket_from_message(
            source="reaction",
            channel=channel,
            message_ts=ts,
            author=author,
            requested_by=str(reactor or ""),
            event_id=event_id,
        )

    async def ticket_from_message(
        self,
        *,
        source: str,
        channel: str,
        message_ts: str,
        author: str,
        requested_by: str,
        text: str | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
        bot_user_id: str | None = None,
    ) -> int | None:
        """A ticket for an existing message (🎫 reaction or the "Create support ticket"
        shortcut). One inbox row per message, whichever way and however often it is asked
        for: a second request is a duplicate and does nothing new. Without `text` the worker
        fetches the message. Raises `TicketLimitReached` (and logs it once) when
        `requested_by` asked for `tickets_per_hour` tickets in the last hour already."""
        payload: dict[str, Any] = {
            "source": source,
            "requested_by": requested_by,
            "message_ts": message_ts,
        }
        cleaned = ""
        if text is not None:
            cleaned, notes = clean_user_text(text, bot_user_id)
            payload.update(notes, fetched=True)
        accepted = await self.store.inbox.accept_ticket(
            event_id=event_id,
            channel=channel,
            ts=f"ticket-{message_ts}",
            thread_ts=thread_ts or message_ts,
            user_id=author,
            text=cleaned,
            payload=payload,
            requested_by=requested_by,
            max_per_hour=self.options.tickets_per_hour,
        )
        extra = {"source": source, "channel": channel, "ts": message_ts, "user": author}
        return self._ticket_accepted(accepted, extra, requested_by)

    def _ticket_accepted(
        self, accepted: TicketAccepted, extra: dict[str, Any], requested_by: str
    ) -> int | None:
        """`_accepted` for a ticket asked for: raises `TicketLimitReached` (one log line) when
        `requested_by` reached TICKETS_FROM_MESSAGES_PER_HOUR."""
        if accepted.outcome == "limited":
            log.warning(
                "ticket not opened: TICKETS_FROM_MESSAGES_PER_HOUR reached",
                extra={**extra, "requested_by": requested_by},
            )
            raise TicketLimitReached(requested_by)
        return self._accepted(accepted.inbox_id, extra)

    async def relay_request(
        self,
        *,
        channel: str,
        message_ts: str,
        thread_ts: str,
        author: str,
        requested_by: str,
        text: str,
        bot_user_id: str | None = None,
    ) -> int | None:
        """The "Reply to user" shortcut on a staff thread's message: relay it to the user
        (once per message, however often it is clicked)."""
        cleaned, notes = clean_user_text(text, bot_user_id)
        inbox_id = await self.store.inbox.accept(
            kind=STAFF_REPLY,
            channel=channel,
            ts=f"relay-{message_ts}",
            thread_ts=thread_ts,
            user_id=author,
            text=cleaned,
            payload={"relay": True, "requested_by": requested_by, **notes},
        )
        return self._accepted(inbox_id, {"source": "relay", "channel": channel, "ts": message_ts})

    async def kb_draft(self, *, ticket_id: int, external_id: str, user_id: str) -> int | None:
        """ "Draft KB article": recorded before its modal opens (once per click), so a crash
        in between leaves no "drafting…" modal behind; the worker drafts the article into the
        modal opened with `external_id`."""
        inbox_id = await self.store.inbox.accept(
            kind="kb_draft",
            channel=user_id,
            ts=external_id,
            thread_ts=external_id,
            user_id=user_id,
            text="",
            payload={"ticket_id": ticket_id, "external_id": external_id},
        )
        return self._accepted(inbox_id, {"source": "kb_draft", "ticket_id": ticket_id})

    async def new_request(
        self, *, user_id: str, view_id: str, about: str, description: str, urgency: str
    ) -> int | None:
        """The App Home's "New request" form: the worker opens a DM thread for it. Counted
        with the tickets from messages: raises `TicketLimitReached` past
        TICKETS_FROM_MESSAGES_PER_HOUR (a redelivered submission is neither counted nor
        refused)."""
        about_text, _ = clean_user_text(" ".join(about.split()), None)
        text, notes = clean_user_text(f"{about}\n\n{description}".strip(), None)
        accepted = await self.store.inbox.accept_ticket(
            channel=user_id,  # the DM is opened by the worker
            ts=f"request-{view_id}",  # a redelivered submission is a duplicate
            thread_ts=f"request-{view_id}",
            user_id=user_id,
            text=text,
            payload={"source": "home", "about": about_text, "urgency": urgency, **notes},
            requested_by=user_id,
            max_per_hour=self.options.tickets_per_hour,
        )
        return self._ticket_accepted(accepted, {"source": "home", "user": user_id}, user_id)

    def _accepted(self, inbox_id: int | None, extra: dict[str, Any]) -> int | None:
        """Log the insert's outcome and wake the worker; None for a repeated delivery."""
        if inbox_id is None:
            log.info("duplicate delivery ignored", extra=extra)
            return None
        log.info("accepted", extra={**extra, "inbox_id": inbox_id})
        self.on_accepted()
        return inbox_id

    async def handover(
        self, *, channel: str, answer_ts: str, user_id: str, action_ts: str, reason: str
    ) -> int | None:
        """A click asking for a person under an AI answer: recorded in the answer's thread
        (answered in order with its messages) and answered by the worker once per click.
        None for a repeated delivery or a message that is not one of the desk's answers."""
        answer = await self.store.feedback.answer(channel, answer_ts)
        ticket = await self.store.tickets.get(answer.ticket_id) if answer else None
        extra = {"user": user_id, "channel": channel}
        if ticket is None:
            log.warning("hand-over asked under a message that is not an answer", extra=extra)
            return None
        inbox_id = await self.store.inbox.accept(
            kind="action",
            channel=ticket.channel,
            ts=f"click-{action_ts}",
            thread_ts=ticket.thread_ts,
            user_id=user_id,
            text="talk to a person",
            payload={"handover": reason},
        )
        return self._accepted(inbox_id, {**extra, "ticket_id": ticket.id})


MALFORMED = "malformed:"


def _ignore_reason(event: dict[str, Any], bot_user_id: str | None) -> str | None:
    """Why an event must not be answered, or None. Malformed events are ignored, not fatal."""
    if not isinstance(event.get("channel"), str) or not isinstance(event.get("ts"), str):
        return f"{MALFORMED} no channel or ts"
    if event.get("subtype") not in ANSWERED_SUBTYPES:
        return f"subtype {event.get('subtype')}"
    if event.get("bot_id") or event.get("bot_profile"):
        return "a bot wrote it"
    user = event.get("user")
    if not isinstance(user, str) or not user:
        return f"{MALFORMED} no user"
    if user == bot_user_id:
        return "the desk's own message"
    if "edited" in event:
        return "an edit"
    return None


def _clean_text(text: str, bot_user_id: str | None) -> str:
    """Drop the desk's own @mention; keep other mentions readable."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", " ")
    text = _MENTION.sub(lambda m: f"@{m.group(1)}", text)
    return re.sub(r"[ \t]+", " ", text).strip()

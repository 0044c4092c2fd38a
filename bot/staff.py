"""Human escalations, worked from Slack: announce, claim, resolve, rate, remind, App Home.

The Slack side of the hand-over. Ticket state lives in `storage.tickets` (every transition
with its time); this module decides who may change it and keeps the Slack messages in step:

- the staff message in ESCALATION_CHANNEL (drawn from the database by `bot.blocks`, so it is
  simply drawn again after each change),
- the handover notice in the user's thread (a line is added when someone claims or resolves),
- the rating request posted in the user's thread on resolve.

Staff are the members of ESCALATION_CHANNEL and of the SUPPORT_STAFF_GROUP user group.
A staff member who writes in an escalated thread they did not open claims it implicitly: the
desk never answers staff in a customer's escalated thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.errors import SlackApiError

from agents_config.context import Caller, EscalationRequest
from bot import blocks
from bot.mrkdwn import Mrkdwn, mention, split_message, to_mrkdwn
from bot.slack import SlackGateway
from storage.approvals import Approval
from storage.inbox import InboxItem
from storage.store import Store
from storage.tickets import Escalation, QueueEntry, SlaClock, SlaTargets, Ticket

log = logging.getLogger(__name__)

# Staff asking for the queue in a DM ("Show the open queue", their suggested prompt): the
# whole message, so a customer's sentence that mentions a queue is never taken for it.
_QUEUE_REQUEST = re.compile(
    r"(?:(?:please|can you|could you)\s+)?"
    r"(?:(?:show|list|see|view|give|get|open|display)\s+(?:me\s+|us\s+)?)?"
    r"(?:the\s+|my\s+|our\s+)?(?:open\s+|support\s+|staff\s+|ticket\s+|escalation\s+)*"
    r"(?:queue|tickets\s+waiting)(?:\s+please)?"
)


def asks_for_queue(text: str) -> bool:
    """Whether a message is only a request for the open queue."""
    words = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
    return _QUEUE_REQUEST.fullmatch(words) is not None


QUEUE_IS_FOR_STAFF = Mrkdwn(
    "The open queue is for our support team. If there is something I can do for you, "
    "tell me what it is and I'll help, or bring in a person."
)
STAFF_CACHE_S = 60.0
ANNOUNCE_GRACE_S = 120.0  # an escalation this old with no staff message was never announced
MAX_REMINDER_POLL_S = 60.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class StaffOptions:
    escalation_channel: str | None = None
    staff_group: str | None = None
    remind_after_s: float = 30 * 60
    reply_prefix: str = ">>"  # STAFF_REPLY_PREFIX: a staff-thread reply with it goes to the user
    sla: SlaTargets | None = None  # SLA_FIRST_RESPONSE_MINUTES, SLA_RESOLUTION_HOURS


@dataclass(frozen=True)
class Outcome:
    """The answer to a staff action: `ok`, and what to tell the person who clicked."""

    ok: bool
    # Shown only to them (ephemeral): `Mrkdwn` as it is, any other text escaped.
    message: str | None = None


class StaffDirectory:
    """Who counts as staff: ESCALATION_CHANNEL's members plus SUPPORT_STAFF_GROUP's users.

    Cached for `ttl_s`; when Slack fails, the last known list is used (and no list at all
    means nobody is staff: the check fails closed).
    """

    def __init__(
        self, slack: SlackGateway, options: StaffOptions, *, ttl_s: float = STAFF_CACHE_S
    ) -> None:
        self.slack = slack
        self.options = options
        self.ttl_s = ttl_s
        self._members: frozenset[str] | None = None
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    async def is_staff(self, user_id: str) -> bool:
        return user_id in await self.members()

    async def members(self) -> frozenset[str]:
        async with self._lock:
            if self._members is None or time.monotonic() - self._fetched > self.ttl_s:
                fresh = await self._fetch()
                if fresh is not None:
                    self._members, self._fetched = fresh, time.monotonic()
            return self._members or frozenset()

    async def _fetch(self) -> frozenset[str] | None:
        found: set[str] = set()
        try:
            if self.options.escalation_channel:
                found |= await self.slack.channel_members(self.options.escalation_channel)
            if self.options.staff_group:
                found |= await self.slack.usergroup_members(self.options.staff_group)
        except SlackApiError as exc:
            log.warning("could not list staff", extra={"error": exc.response.get("error")})
            return None
        return frozenset(found)


class StaffDesk:
    def __init__(
        self,
        store: Store,
        slack: SlackGateway,
        options: StaffOptions,
        *,
        now: Clock = time.time,
        directory: StaffDirectory | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.options = options
        self.now = now
        self.directory = directory or StaffDirectory(slack, options)

    # ---- announcing -------------------------------------------------------------------

    async def announce(
        self,
        ticket: Ticket,
        request: EscalationRequest | None = None,
        *,
        caller: Caller | None = None,
        agent_path: list[str] | None = None,
        notice_ts: str | None = None,
        notice_markdown: str | None = None,
    ) -> str | None:
        """Post an escalation to ESCALATION_CHANNEL; returns the message ts.

        `request`: the escalation the turn just recorded (its outcome carries it); without
        it, the ticket's latest one is read (an escalation whose message never got out).
        `notice_ts`/`notice_markdown`: the reply that told the user a person will follow up,
        updated later with who claimed and resolved the ticket.
        """
        extra = {"slack_thread": f"{ticket.channel}:{ticket.thread_ts}", "ticket_id": ticket.id}
        escalation = _from_request(ticket, request) if request else None
        escalation = escalation or await self.store.tickets.latest_escalation(ticket.id)
        if escalation is None:
            return None
        notice_text = None
        if notice_ts and notice_markdown:
            notice_text = split_message(to_mrkdwn(notice_markdown))[0]
        escalation = replace(
            escalation,
            agent_path=tuple(agent_path or escalation.agent_path or ticket.agent_path),
            department=escalation.department or ticket.department,
            thread_link=await self.slack.permalink(ticket.channel, ticket.thread_ts),
            notice_ts=notice_ts or escalation.notice_ts,
            notice_text=notice_text or escalation.notice_text,
        )
        await self.store.tickets.describe_escalation(
            escalation.id,
            agent_path=list(escalation.agent_path),
            department=escalation.department,
            thread_link=escalation.thread_link,
            notice_ts=notice_ts,
            notice_text=notice_text,
        )
        channel = self.options.escalation_channel
        if not channel:
            log.warning("escalated, but ESCALATION_CHANNEL is not set", extra=extra)
            return None
        email = caller.email if caller else await self._email(ticket.user_id)
        text, message = blocks.escalation_message(ticket, escalation, requester_email=email)
        ts = await self.slack.post_blocks(channel, text, message)
        await self.store.tickets.set_escalation_message(escalation.id, channel, ts)
        log.info("escalation posted", extra={**extra, "staff_channel": channel})
        return ts

    # ---- claim, resolve, priority (buttons in the staff message) ----------------------

    async def claim(self, ticket_id: int, user_id: str, *, implicit: bool = False) -> Outcome:
        if not await self.directory.is_staff(user_id):
            return Outcome(False, NOT_STAFF)
        note = "wrote in the thread" if implicit else "claimed in Slack"
        claimed, ticket = await self.store.tickets.claim(ticket_id, user_id, note=note)
        if ticket is None:
            return Outcome(False, f"Ticket #{ticket_id} no longer exists.")
        if not claimed:
            return Outcome(False, _why_not_claimed(ticket, user_id))
        log.info("ticket claimed", extra=self._extra(ticket, staff=user_id, implicit=implicit))
        await self._refresh(ticket)
        return Outcome(True)

    async def resolve(self, ticket_id: int, user_id: str) -> Outcome:
        if not await self.directory.is_staff(user_id):
            return Outcome(False, NOT_STAFF)
        resolved, ticket = await self.store.tickets.resolve(ticket_id, user_id)
        if ticket is None:
            return Outcome(False, f"Ticket #{ticket_id} no longer exists.")
        if not resolved:
            return Outcome(False, f"Ticket #{ticket.id} is already resolved.")
        log.info("ticket resolved", extra=self._extra(ticket, staff=user_id))
        await self._refresh(ticket)
        await self.ask_for_rating(ticket)
        return Outcome(True)

    async def ask_for_rating(self, ticket: Ticket, language: str = "en") -> None:
        """Post the CSAT request in the user's thread of a resolved ticket (by staff's Resolve,
        or by the user saying it is solved, in `language`); only clicks on it count."""
        text, prompt = blocks.csat_prompt(ticket, language)
        try:
            prompt_ts = await self.slack.post_in_thread(
                ticket.channel, ticket.thread_ts, text, prompt
            )
            await self.store.tickets.set_csat_prompt(ticket.id, ticket.channel, prompt_ts)
        except SlackApiError as exc:
            log.warning(
                "could not ask for a rating",
                extra={**self._extra(ticket), "error": exc.response.get("error")},
            )

    async def set_priority(self, ticket_id: int, priority: str, user_id: str) -> Outcome:
        if not await self.directory.is_staff(user_id):
            return Outcome(False, NOT_STAFF)
        if priority not in blocks.PRIORITIES:
            return Outcome(False, f"Unknown priority {priority!r}.")
        ticket = await self.store.tickets.get(ticket_id)
        if ticket is None:
            return Outcome(False, f"Ticket #{ticket_id} no longer exists.")
        await self.store.tickets.set_priority(ticket_id, priority)
        ticket = await self.store.tickets.get(ticket_id)
        assert ticket is not None
        log.info("priority changed", extra=self._extra(ticket, staff=user_id, priority=priority))
        await self._refresh(ticket, notice=False)
        return Outcome(True)

    async def set_department(self, ticket_id: int, department: str, user_id: str) -> Outcome:
        """Staff's correction of the department: the label `export-tickets` writes."""
        if not await self.directory.is_staff(user_id):
            return Outcome(False, NOT_STAFF)
        if department not in blocks.DEPARTMENTS:
            return Outcome(False, f"Unknown department {department!r}.")
        changed, ticket = await self.store.tickets.correct_department(
            ticket_id, department, user_id
        )
        if ticket is None:
            return Outcome(False, f"Ticket #{ticket_id} no longer exists.")
        if changed:
            log.info(
                "department corrected",
                extra=self._extra(ticket, staff=user_id, department=department),
            )
            await self._refresh(ticket, notice=False)
        return Outcome(True)

    async def rate(
        self, ticket_id: int, score: int, user_id: str, prompt: tuple[str, str]
    ) -> Outcome:
        """The user's CSAT click; `prompt` is the (channel, ts) of the message clicked.

        Counted only from the requester, on a resolved ticket, on the rating request the desk
        posted for it; a later click replaces the score. Anything else is refused, privately.
        """
        if not 1 <= score <= 5:
            return Outcome(False, "A rating is 1 to 5.")
        result = await self.store.tickets.rate(ticket_id, user_id, score, prompt)
        ticket = await self.store.tickets.get(ticket_id)
        if result == "rated" and ticket is not None:
            log.info("rated", extra={**self._extra(ticket), "score": score})
            text, thanks = blocks.csat_thanks(ticket, score)
            await self.slack.update_message(prompt[0], prompt[1], text, thanks)
            return Outcome(True)
        log.info("rating refused", extra={"ticket_id": ticket_id, "reason": result})
        if ticket is None:
            return Outcome(False, f"Ticket #{ticket_id} no longer exists.")
        if result == "not_requester":
            return Outcome(
                False,
                Mrkdwn("Only {}, who asked, can rate this ticket.").format(mention(ticket.user_id)),
            )
        if result == "not_resolved":
            return Outcome(
                False, f"Ticket #{ticket.id} is not resolved, so there is nothing to rate yet."
            )
        return Outcome(
            False,
            f"That is not the rating request of ticket #{ticket.id}, so I did not record it. "
            "Use the one in the ticket's thread.",
        )

    async def _refresh(self, ticket: Ticket, *, notice: bool = True) -> None:
        """Draw the staff message (and the user's handover notice) again from the database."""
        escalation = await self.store.tickets.latest_escalation(ticket.id)
        if escalation is None:
            return
        if escalation.staff_channel and escalation.staff_ts:
            email = await self._email(ticket.user_id)
            text, message = blocks.escalation_message(ticket, escalation, requester_email=email)
            await self.slack.update_message(
                escalation.staff_channel, escalation.staff_ts, text, message
            )
        if notice and escalation.notice_ts and escalation.notice_text:
            await self.slack.update_message(
                ticket.channel,
                escalation.notice_ts,
                blocks.notice_update(escalation.notice_text, ticket),
            )

    # ---- staff writing in a customer's thread -----------------------------------------

    async def claim_if_staff_wrote(self, item: InboxItem) -> None:
        """A staff member writing in an escalated thread they did not open claims it (an
        implicit claim), so the desk, which stays silent where a person owns the thread
        (`Desk.handle`), never answers staff in a customer's thread."""
        if not await self.directory.is_staff(item.user_id):  # cached: most writers are not
            return
        ticket = await self.store.tickets.by_thread(item.channel, item.thread_ts)
        if ticket is not None and ticket.status == "escalated" and ticket.user_id != item.user_id:
            await self.claim(ticket.id, item.user_id, implicit=True)

    # ---- the staff thread: internal notes, replies relayed to the user -------------------

    async def staff_reply(self, item: InboxItem) -> str | None:
        """A reply in the staff thread of an escalation (inbox kind `staff_reply`).

        An internal note, kept on the ticket and never shown to the user; unless it starts
        with the reply prefix or came from the "Reply to user" shortcut: then the desk posts it
        in the user's thread (or DM) as coming from that staff member, by name, once (a
        restart finds the relay it already posted). Returns the relay's ts."""
        ticket = await self.store.tickets.by_staff_message(item.channel, item.thread_ts)
        if ticket is None:
            return None
        extra = self._extra(ticket, staff=item.user_id, inbox_id=item.id)
        requested_by = str(item.payload.get("requested_by") or item.user_id)
        if not await self.directory.is_staff(requested_by):
            log.info("staff thread message from a non-staff member ignored", extra=extra)
            return None
        text, relay = item.text, bool(item.payload.get("relay"))
        stripped = _after_prefix(text, self.options.reply_prefix)
        if stripped is not None:
            text, relay = stripped, True
        if not relay or not text:
            await self.store.tickets.add_note(
                ticket.id, author=item.user_id, kind="note", text=item.text, source_ts=item.ts
            )
            log.info("internal note recorded", extra=extra)
            return None
        if ticket.status == "escalated":  # answering the user is taking the ticket
            await self.claim(ticket.id, requested_by, implicit=True)
        reply_ts = None
        if item.attempts > 1:
            reply_ts = await self.slack.find_reply(ticket.channel, ticket.thread_ts, item.id)
        if reply_ts is None:
            name = await self._name(item.user_id)
            message, relayed = blocks.staff_reply(name, text)
            reply_ts = await self.slack.post_prompt(
                ticket.channel, ticket.thread_ts, message, relayed, item.id
            )
        await self.store.tickets.add_note(
            ticket.id, author=item.user_id, kind="reply", text=text, source_ts=item.ts
        )
        log.info("staff reply relayed to the user", extra=extra)
        return reply_ts

    async def mirror(self, ticket: Ticket, item: InboxItem) -> str | None:
        """What the user wrote in the DM of a claimed ticket, shown in its staff thread (a DM
        is visible only to the user, so staff would not see it otherwise)."""
        escalation = await self.store.tickets.latest_escalation(ticket.id)
        if escalation is None or not escalation.staff_channel or not escalation.staff_ts:
            return None
        channel, thread = escalation.staff_channel, escalation.staff_ts
        if item.attempts > 1 and (found := await self.slack.find_reply(channel, thread, item.id)):
            return found
        message, mirrored = blocks.user_wrote(await self._name(item.user_id), item.text)
        ts = await self.slack.post_prompt(channel, thread, message, mirrored, item.id)
        log.info("DM mirrored to the staff thread", extra=self._extra(ticket, inbox_id=item.id))
        return ts

    async def _name(self, user_id: str) -> str:
        """A person's name as Slack shows it (cached like the requester's e-mail)."""
        cached = await self.store.users.get(user_id, max_age_s=float("inf"))
        if cached is None:
            cached = await self.slack.user(user_id)
            if cached is not None:
                await self.store.users.put(cached)
        return (cached.name if cached else None) or "Support staff"

    # ---- approvals: a refund over the limit waits for a staff member's yes ---------------

    async def show_review(self, approval: Approval) -> None:
        """Post the approval's staff card (Approve / Reject), or draw it again once decided."""
        ticket = await self.store.tickets.get(approval.ticket_id)
        channel = approval.staff_channel or self.options.escalation_channel
        extra = {"approval_id": approval.id, "ticket_id": approval.ticket_id}
        if ticket is None or not channel:
            log.warning(
                "an approval waits for staff, but ESCALATION_CHANNEL is not set", extra=extra
            )
            return
        link = await self.slack.permalink(approval.channel, approval.thread_ts)
        text, card = blocks.approval_card(approval, ticket, link)
        if approval.staff_ts:
            await self.slack.update_message(channel, approval.staff_ts, text, card)
            return
        ts = await self.slack.post_blocks(channel, text, card)
        await self.store.approvals.set_staff_message(
            approval.id, channel, ts, next_reminder_at=self.now() + self.options.remind_after_s
        )
        log.info("approval posted to staff", extra=extra)

    async def _remind_approvals(self, now: float) -> int:
        """Approvals waiting for staff longer than the reminder interval are announced again
        in their card's thread; a card that never got out is posted."""
        sent = 0
        every = self.options.remind_after_s
        for approval in await self.store.approvals.awaiting_staff(
            now=now, grace_s=ANNOUNCE_GRACE_S
        ):
            if approval.staff_ts is None:
                await self.show_review(approval)
                continue
            if not approval.staff_channel or not await self.store.approvals.take_reminder(
                approval.id, now=now, every_s=every
            ):
                continue
            text = blocks.approval_reminder(approval, now=now, staff_group=self.options.staff_group)
            await self.slack.post_in_thread(
                approval.staff_channel, approval.staff_ts, text, broadcast=True
            )
            sent += 1
            log.info("reminded staff of an approval", extra={"approval_id": approval.id})
        return sent

    # ---- reminders ---------------------------------------------------------------------

    async def send_reminders(self, now: float | None = None) -> int:
        """Re-announce escalations unclaimed for longer than the setting; post the ones whose
        staff message never got out. Returns how many reminders were posted."""
        if not self.options.escalation_channel:
            return 0
        # One process of the cluster sweeps at a time, and each reads what is due inside: a
        # missed announcement is posted once (reminders are also booked atomically).
        async with self.store.exclusive("escalation-reminders"):
            return await self._send_reminders(now)

    async def _send_reminders(self, now: float | None) -> int:
        now = self.now() if now is None else now
        every = self.options.remind_after_s
        tickets = self.store.tickets
        for missed in await tickets.unannounced(older_than=now - ANNOUNCE_GRACE_S):
            ticket = await tickets.get(missed.ticket_id)
            if ticket is not None:
                log.info(
                    "posting an escalation that was never announced", extra=self._extra(ticket)
                )
                await self.announce(ticket)
        sent = 0
        for escalation in await tickets.due_reminders(now=now, every_s=every):
            ticket = await tickets.get(escalation.ticket_id)
            if ticket is None or not await tickets.take_reminder(
                escalation.id, now=now, every_s=every
            ):
                continue
            assert escalation.staff_channel and escalation.staff_ts
            text = blocks.reminder_text(
                ticket, escalation, now=now, staff_group=self.options.staff_group
            )
            await self.slack.post_in_thread(
                escalation.staff_channel, escalation.staff_ts, text, broadcast=True
            )
            sent += 1
            log.info(
                "reminded staff",
                extra={**self._extra(ticket), "reminder": escalation.reminders + 1},
            )
        return sent + await self._remind_approvals(now)

    async def send_sla_warnings(self, now: float | None = None) -> int:
        """Warn in the staff thread once per clock when a ticket nears its SLA target: the
        first response (a person claims it) while unclaimed, the resolution until resolved."""
        sla = self.options.sla
        if sla is None:
            return 0
        now = self.now() if now is None else now
        sent = 0
        for escalation, ticket in await self.store.tickets.sla_running():
            clocks: list[SlaClock] = ["resolution"]
            if ticket.status == "escalated":
                clocks.insert(0, "first_response")
            for clock in clocks:
                target = sla.target(clock, ticket.priority)
                if target is None or now < escalation.created_at + sla.warn_at * target:
                    continue
                if not await self.store.tickets.take_sla_warning(escalation.id, clock, now=now):
                    continue
                assert escalation.staff_channel and escalation.staff_ts
                text = blocks.sla_warning(
                    ticket, clock, due_at=escalation.created_at + target, target_s=target, now=now
                )
                await self.slack.post_in_thread(escalation.staff_channel, escalation.staff_ts, text)
                sent += 1
                log.info("SLA warning", extra=self._extra(ticket, clock=clock))
        return sent

    async def run_reminders(self, stop: asyncio.Event, poll_s: float | None = None) -> None:
        """Call `send_reminders` periodically until `stop` is set (started by the runtime).

        The due times live in the database, so a restart neither loses nor repeats reminders.
        """
        poll = poll_s or min(MAX_REMINDER_POLL_S, self.options.remind_after_s / 4)
        while not stop.is_set():
            try:
                await self.send_reminders()
                await self.send_sla_warnings()
            except Exception:
                log.exception("sending reminders failed")
            try:
                await asyncio.wait_for(stop.wait(), poll)
            except TimeoutError:
                pass

    # ---- App Home ----------------------------------------------------------------------

    async def home_view(self, user_id: str) -> dict[str, Any]:
        own = await self.store.tickets.for_user(user_id, limit=blocks.HOME_LIMIT)
        waiting = mine = None
        if await self.directory.is_staff(user_id):
            waiting, mine = await self._queue(user_id)
        return blocks.home_view(own=own, waiting=waiting, mine=mine, now=self.now())

    async def queue_message(self, user_id: str) -> tuple[Mrkdwn, list[blocks.Block]]:
        """The open queue for a staff member who asks for it in a DM; for anyone else a
        polite word that it is the support team's (it names other people's tickets)."""
        if not await self.directory.is_staff(user_id):
            return QUEUE_IS_FOR_STAFF, blocks.answer_blocks(QUEUE_IS_FOR_STAFF, None)
        waiting, mine = await self._queue(user_id)
        return blocks.queue_message(waiting, mine, self.now())

    async def _queue(self, user_id: str) -> tuple[list[QueueEntry], list[QueueEntry]]:
        """Escalations nobody has claimed, and those `user_id` holds."""
        tickets = self.store.tickets
        more = blocks.HOME_LIMIT + 1  # one more than shown: the count says "15+", not "15"
        waiting = await tickets.queue(limit=more)
        return waiting, await tickets.claimed_by(user_id, limit=more)

    async def publish_home(self, user_id: str) -> None:
        await self.slack.publish_home(user_id, await self.home_view(user_id))

    # ---- helpers -----------------------------------------------------------------------

    async def _email(self, user_id: str) -> str | None:
        cached = await self.store.users.get(user_id, max_age_s=float("inf"))
        return cached.email if cached else None

    @staticmethod
    def _extra(ticket: Ticket, **more: object) -> dict[str, object]:
        return {
            "slack_thread": f"{ticket.channel}:{ticket.thread_ts}",
            "ticket_id": ticket.id,
            **more,
        }


def _from_request(ticket: Ticket, request: EscalationRequest) -> Escalation:
    """The stored escalation as the turn recorded it (no need to read it back)."""
    return Escalation(
        id=request.id,
        ticket_id=ticket.id,
        reason=request.reason,
        summary=request.summary,
        staff_channel=None,
        staff_ts=None,
        created_at=request.created_at,
    )


NOT_STAFF = (
    "Only support staff can do that: members of the staff channel or of the support staff "
    "user group."
)


def _after_prefix(text: str, prefix: str) -> str | None:
    """The text after the reply prefix, or None without it. Slack sends `>` as `&gt;`."""
    for form in (prefix, prefix.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")):
        if text.startswith(form):
            return text[len(form) :].strip()
    return None


def _why_not_claimed(ticket: Ticket, user_id: str) -> str:
    if ticket.status == "claimed" and ticket.assignee == user_id:
        return f"You already have ticket #{ticket.id}."
    if ticket.status == "claimed":
        return Mrkdwn(
            "Sorry, {} has already claimed ticket #{}. Ask them if you'd like to take it over."
        ).format(mention(ticket.assignee or ""), ticket.id)
    if ticket.status == "resolved":
        return f"Ticket #{ticket.id} is already resolved."
    return f"Ticket #{ticket.id} is not waiting for a person any more (it is {ticket.status})."

"""`Desk`: one conversation turn, from a user's words to the desk's reply and the ticket's state.

It knows nothing of Slack: the Slack worker, the terminal `chat` and `ask` all call
`Desk.handle(Turn)` and present the `TurnOutcome` their own way.

A turn, in order (`handle`):

0. a message that only ends the conversation ("thanks!", "that solved it", "eso es todo":
   `agents_config.closing`) gets a short reply in the user's language and no agent runs
   (`_closing`): no ticket is opened for it, the requester resolves a ticket the desk
   answered, any other ticket is left as it is;
1. the ticket of the thread is opened, or reopened (a person owning the thread: stay silent);
2. an answer to a pending confirmation (a Confirm / Cancel click, or the requester typing only
   "yes" / "cancel") settles it (`_answer`): a yes resumes the stopped run, anything else
   closes it; any other message in the thread closes a pending confirmation first;
3. the agents run (`_run`);
4. the outcome is settled in code (`_settle`): an acting tool waiting for a yes saves the run
   and asks (`_ask`); a failed run, or one that reached a staff-handover agent, is escalated
   whatever the model wrote; the ticket's status and route are recorded.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from agents import (
    Agent,
    ItemHelpers,
    RunConfig,
    RunContextWrapper,
    RunHooks,
    Runner,
    RunState,
    Tool,
)
from agents.exceptions import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    OutputGuardrailTripwireTriggered,
)
from agents.items import HandoffOutputItem, ToolCallItem, ToolCallOutputItem
from agents.result import RunResultStreaming
from agents.stream_events import StreamEvent

from agents_config.agents import STAFF_HANDOVER_AGENTS
from agents_config.approvals import Answer, confirmation_for, typed_answer
from agents_config.closing import ClosingMessage, TicketState, closing_of, closing_reply
from agents_config.context import Caller, DeskContext, EscalationRequest
from agents_config.guardrails import check_answer, foreign_markers, guardrail_tripped
from agents_config.memory import ThreadSession
from agents_config.models import model_label
from agents_config.progress import (
    WAITING_TICK_S,
    Progress,
    ProgressEvent,
    Step,
    StopAnswer,
    TextDelta,
    Waiting,
    agent_label,
    tool_label,
)
from agents_config.routing import department_of
from agents_config.sdk import install as install_sdk_speedups
from agents_config.tools.escalation import record_escalation
from storage.approvals import Approval, PlannedAction
from storage.store import Store
from storage.tickets import PRIORITIES, Ticket

install_sdk_speedups()

log = logging.getLogger(__name__)

WORKFLOW_NAME = "support-desk"


EMPTY_MESSAGE_REPLY = (
    "Hi! How can I help? Tell me what you need: a billing question, a technical problem, "
    "plans and pricing, or say if you'd like to talk to a person."
)


@dataclass(frozen=True)
class Turn:
    """One message to answer. `turn_id` is unique per message (the inbox id in Slack).

    A click on Confirm / Cancel is a turn too: `answer` is set and `approval_id` names the
    confirmation it answers (its `text` is not read).
    """

    turn_id: int
    channel: str
    thread_ts: str
    caller: Caller
    text: str
    resumed: bool = False  # run before and interrupted (crash, restart, retry)
    answer: Answer | None = None
    approval_id: int | None = None
    handover: str | None = None  # the requester asked for a person (a button): why
    # A ticket staff opened for the queue (TICKET_EMOJI_BY_STAFF=queue): no AI answer.
    to_staff: bool = False
    priority: str | None = None  # the urgency the user chose (App Home form), for a new ticket
    # A staff member's Approve / Reject (`answer`): who clicked, and whether Slack says they
    # are staff; `caller` is then the requester, whose run is resumed. `text`: the reason.
    reviewer: str | None = None
    reviewer_is_staff: bool = False

    @property
    def thread_key(self) -> str:
        return f"{self.channel}:{self.thread_ts}"


@dataclass
class TurnOutcome:
    ticket: Ticket | None  # None only for a click on a confirmation that does not exist
    opened: bool
    reply: str | None  # None: nothing to post in the thread (a person owns it, a refused click)
    agent_path: list[str] = field(default_factory=list)
    tools_called: list[str] = field(default_factory=list)
    escalation: EscalationRequest | None = None  # recorded this turn: announce it to staff
    error: str | None = None  # set when the run failed and the user got the apology
    model_calls: int = 0
    resolved_by_user: bool = False  # the user said it is solved: the ticket is resolved
    language: str = "en"  # the user's, where the desk knows it (they closed in it)
    confirmation: Approval | None = None  # the reply asks the requester to confirm this
    settled: Approval | None = None  # an earlier confirmation answered or closed this turn
    private: str | None = None  # for the person who clicked only (a refusal)
    model: str | None = None  # the model configured for the agent that answered
    stopped: bool = False  # the user stopped it: `reply` is only the note saying so
    review: Approval | None = None  # waits for staff, or was just reviewed: draw its staff card
    # written in another member's request thread: that requester's Slack id (the writer is
    # told privately to ask in a thread of their own; nothing else is done)
    thread_owner: str | None = None

    @property
    def department(self) -> str | None:
        return department_of(self.agent_path)


@dataclass(frozen=True)
class DeskOptions:
    history_turns: int = 8
    max_turns: int = 10
    trace_sensitive_data: bool = False
    confirmation_ttl_s: float = 30 * 60
    refund_approval_limit_cents: int | None = None  # REFUND_APPROVAL_LIMIT; None: no limit


def handover_note(ticket_id: int) -> str:
    return (
        f"I've passed this to our support staff as ticket #{ticket_id}; a person will follow up "
        "in this thread."
    )


def apology(ticket_id: int) -> str:
    return (
        "Sorry, I couldn't finish answering this one. I've passed your request to our support "
        f"staff as ticket #{ticket_id}; a person will follow up in this thread."
    )


def confirmation_question(actions: tuple[PlannedAction, ...] | list[PlannedAction]) -> str:
    lines = "\n".join(f"- {a.description}" for a in actions)
    return f"Please confirm before I go ahead:\n{lines}\n\nNothing is done until you confirm."


STOPPED_NOTE = "_(Stopped. Ask again whenever you like.)_"
CANCELLED_REPLY = "OK, I've cancelled that: nothing was done. Anything else I can help with?"
NOT_CONFIRMED_NOTE = "Not done: the user did not confirm it ({why})."
AWAITING_STAFF_REPLY = (
    "Thanks, confirmed. This refund needs the approval of a member of our support "
    "staff as well; I've asked them, and I'll tell you here as soon as they have decided. "
    "Nothing is done until then."
)
REJECTED_REPLY = (
    "A member of our support staff reviewed your request and could not approve it this time, "
    "so nothing was done. Their reason: {reason}\n\nIf you have questions about it, reply "
    "here and a person will help."
)
NOT_STAFF_REVIEW = "Only support staff can approve or reject this. Nothing was done."
Closing = Literal["cancelled", "superseded", "expired", "rejected"]
_CLOSING_WHY = {
    "rejected": "a staff member did not approve it",
    "cancelled": "they cancelled",
    "superseded": "the conversation moved on",
    "expired": "the confirmation expired",
}


@dataclass(frozen=True)
class _Decision:
    """An answer to a confirmation, as the store took it: the requester's Confirm or Cancel,
    or (`by_staff`) a staff member's Approve or Reject."""

    status: Literal["confirmed", "cancelled", "awaiting_staff", "rejected"]
    recorded: bool  # False: another answer was recorded first
    too_late: Callable[[Approval | None], Awaitable[str]]  # what to say when not recorded
    closing_reply: str  # the thread's reply when the answer closes the run
    by_staff: bool = False


class _RunTrace(RunHooks[DeskContext]):
    """Collects the agent path, the tools called and the number of model calls of a run."""

    def __init__(self) -> None:
        self.path: list[str] = []
        self.tools: list[str] = []
        self.model_calls = 0

    async def on_agent_start(
        self, context: RunContextWrapper[DeskContext], agent: Agent[DeskContext]
    ) -> None:
        if not self.path or self.path[-1] != agent.name:
            self.path.append(agent.name)

    async def on_tool_start(
        self, context: RunContextWrapper[DeskContext], agent: Agent[DeskContext], tool: Tool
    ) -> None:
        self.tools.append(tool.name)

    async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self.model_calls += 1


def _shown(event: StreamEvent) -> ProgressEvent | None:
    """What a stream event shows the user: text deltas, handoffs and tool calls."""
    if event.type == "raw_response_event":
        if event.data.type == "response.output_text.delta":
            return TextDelta(event.data.delta)
        return None
    if event.type != "run_item_stream_event":
        return None
    item = event.item
    if isinstance(item, HandoffOutputItem):
        name = item.target_agent.name
        return Step(f"agent:{name}", agent_label(name), "complete")
    if isinstance(item, ToolCallItem | ToolCallOutputItem):
        raw: Any = item.raw_item
        call = raw if isinstance(item, ToolCallItem) else None
        call_id = _get(raw, "call_id") or _get(raw, "id")
        if not call_id:
            return None
        if call is not None:
            name = str(_get(call, "name") or "")
            title = tool_label(name, _get(call, "arguments"))
            return Step(f"tool:{call_id}", title, "in_progress")
        return Step(f"tool:{call_id}", "", "complete")  # the title shown when it started
    return None


async def _show_events(
    streamed: RunResultStreaming,
    screen: _Screen,
    progress: Progress | None,
    ticket_id: int,
) -> bool:
    """Stream the run's events to `progress`; True when the user stopped the answer (the run
    is then cancelled). A failing `progress` stops only the showing, never the run."""
    quiet = _QuietWatch(streamed, progress) if progress is not None else None
    try:
        async for event in streamed.stream_events():
            if quiet is not None:
                quiet.heard()
            shown = _shown(event) if progress is not None else None
            if isinstance(shown, TextDelta):
                shown = await screen.release(shown)
            if shown is not None and progress is not None:
                try:
                    await progress(shown)
                except StopAnswer:
                    raise
                except Exception as exc:  # the run goes on; only the showing stops
                    log.warning(
                        "progress failed; the answer is delivered at the end",
                        extra={"ticket_id": ticket_id, "error": repr(exc)[:300]},
                    )
                    progress = None
                    if quiet is not None:
                        quiet.end()
    except StopAnswer:
        streamed.cancel()  # no further model call or tool runs
        log.info("answer stopped by the user", extra={"ticket_id": ticket_id})
        return True
    finally:
        if quiet is not None:
            quiet.end()
    if quiet is not None and quiet.stopped:
        log.info(
            "answer stopped by the user while the run was quiet", extra={"ticket_id": ticket_id}
        )
        return True
    return False


class _QuietWatch:
    """While a run sends no event for `WAITING_TICK_S` (a slow model or tool, a stall), tells
    `progress` so (`Waiting`) every tick: a Stop clicked meanwhile cancels the run then, not
    at the next event. One task a run, not one per event."""

    def __init__(self, streamed: RunResultStreaming, progress: Progress) -> None:
        self.streamed = streamed
        self.progress = progress
        self.stopped = False
        self._last = time.monotonic()
        self._task: asyncio.Task[None] | None = asyncio.create_task(self._watch())

    def heard(self) -> None:
        self._last = time.monotonic()

    def end(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WAITING_TICK_S)
            if time.monotonic() - self._last < WAITING_TICK_S:
                continue
            try:
                await self.progress(Waiting())
            except StopAnswer:
                self.stopped = True
                self.streamed.cancel()  # the event loop above ends with the run
                return
            except Exception:  # the showing failed: the events' loop says so if it goes on
                return


class _Screen:
    """The output guardrail's check, applied to text while it streams: text is shown only
    once the check passes on everything written so far, and what could still become another
    customer's identifier or a card number waits, so it is whole, and caught, before any of
    it is shown: a tail that is the start of an identifier ("bob@cont…"), and every digit
    until `DIGIT_WINDOW` characters follow it (a card number, or a security code written
    before its name: "123 is my CVV"). Everything else goes at once, so the first words show
    with the model's first token. Once the check trips nothing more is shown; the answer that
    counts is the run's (the guardrail's fixed answer replaces what was streamed)."""

    DIGIT_WINDOW = 40
    CHECK_EVERY = 32  # characters: the check runs on the whole text, not on every token

    def __init__(self, context: DeskContext) -> None:
        self.context = context
        self.text = ""
        self.released = 0
        self.tripped = False
        self._markers: set[str] | None = None
        self._starts: list[str] | None = None  # the markers lower-cased, sorted (by prefix)
        self._longest = 0

    async def release(self, delta: TextDelta) -> TextDelta | None:
        self.text += delta.text
        if self.tripped:
            return None
        if self._markers is None:
            self._markers = await foreign_markers(self.context)
        end = self._safe_end()
        # the first words go as soon as they are safe; then the check runs every few words
        if end <= self.released or (self.released and end - self.released < self.CHECK_EVERY):
            return None
        verdict = check_answer(self.text, self._markers, self.context.request_text)
        if verdict.tripped:
            self.tripped = True
            return None
        shown = self.text[self.released : end]
        self.released = end
        return TextDelta(shown)

    def _safe_end(self) -> int:
        """How much of the text may show: up to its first digit of the last `DIGIT_WINDOW`
        characters, and up to the earliest tail that starts one of the markers."""
        text = self.text
        digit = _DIGIT.search(text, max(0, len(text) - self.DIGIT_WINDOW))
        end = digit.start() if digit else len(text)
        if self._starts is None:
            self._starts = sorted({m.lower() for m in self._markers or () if m})
            self._longest = max((len(m) for m in self._starts), default=0)
        lowered = text.lower()
        for start in range(max(0, len(text) - self._longest), end):
            tail = lowered[start:]
            found = bisect.bisect_left(self._starts, tail)
            if found < len(self._starts) and self._starts[found].startswith(tail):
                return start
        return end


_DIGIT = re.compile(r"\d")


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else getattr(raw, key, None)


class TurnRouter(Protocol):
    """Picks the agent a turn starts at (ROUTING_MODE=classifier); None: triage's handoffs."""

    async def choose(
        self, text: str, context: DeskContext, hooks: RunHooks[DeskContext] | None = None
    ) -> Agent[DeskContext]: ...


@dataclass
class _Run:
    """One run of the agents and what it left: its result, or the error that ended it."""

    context: DeskContext
    trace: _RunTrace
    start: str = "triage"
    result: RunResultStreaming | None = None
    error: str | None = None
    blocked: str | None = None  # a guardrail stopped the run: its fixed answer
    stopped: bool = False  # the user stopped the answer while it was written


class Desk:
    def __init__(
        self,
        store: Store,
        agents: dict[str, Agent[DeskContext]],
        options: DeskOptions,
        *,
        router: TurnRouter | None = None,
    ) -> None:
        self.store = store
        self.agents = agents
        self.options = options
        self.router = router

    async def handle(self, turn: Turn, progress: Progress | None = None) -> TurnOutcome:
        """Answer one turn. `progress`, when given, sees the answer's text as the model writes
        it and each step of the run (`agents_config.progress`); the outcome's `reply` is what
        counts (it may differ: a confirmation, an apology, the hand-over note)."""
        if turn.answer is not None:  # a Confirm / Cancel click, or staff's Approve / Reject
            approval = await self.store.approvals.get(turn.approval_id or 0)
            if turn.answer in ("approve", "reject"):
                return await self._review(turn, approval)
            return await self._answer(turn, approval, turn.answer, progress)
        if turn.handover is not None:  # "Talk to a person": no model decides this
            return await self._hand_over(turn, turn.handover)
        known = await self.store.tickets.by_thread(turn.channel, turn.thread_ts)
        elsewhere = self._someone_elses_thread(turn, known)
        if elsewhere is not None:
            return elsewhere
        if known is not None and known.status == "claimed":  # a person owns the thread
            return TurnOutcome(ticket=known, opened=False, reply=None)  # the desk stays silent
        if not turn.text.strip():  # a file alone, a bare mention: a greeting, no ticket
            return TurnOutcome(ticket=known, opened=False, reply=EMPTY_MESSAGE_REPLY)
        closing = closing_of(turn.text) if not turn.to_staff else None
        if closing is not None:
            closed = await self._closing(turn, closing, known)
            if closed is not None:
                return closed
        ticket, opened = await self._open_ticket(turn)
        if turn.to_staff:
            return await self._to_staff(turn, ticket, opened=opened)
        pending, answer = await self._pending(turn)
        if answer is not None:
            return await self._answer(turn, pending, answer, progress)
        settled = await self._close(pending, "superseded") if pending is not None else None
        if turn.resumed:  # an interrupted turn starts over from a clean history
            await self.store.conversations.discard_turn(turn.thread_key, turn.turn_id)
        run = await self._run(turn, ticket, progress=progress)
        outcome = await self._settle(turn, ticket, run, opened=opened)
        outcome.settled = settled
        return outcome

    # ---- 1. the ticket --------------------------------------------------------------------

    def _someone_elses_thread(self, turn: Turn, ticket: Ticket | None) -> TurnOutcome | None:
        """A member writing in another member's request thread: the agents would answer them
        from the requester's conversation (its account data included), and their "thanks" or
        "yes" would close or confirm the requester's ticket. So nothing runs: the writer is
        told privately to ask in a thread of their own (silence where a person owns the
        thread: staff writing there are handled by the staff desk). None: their own thread
        (`ticket`: the thread's, if any)."""
        if turn.to_staff or ticket is None or ticket.user_id == turn.caller.slack_user_id:
            return None
        log.info(
            "a message in another member's request thread: not answered there",
            extra={
                "slack_thread": turn.thread_key,
                "ticket_id": ticket.id,
                "user": turn.caller.slack_user_id,
            },
        )
        owner = None if ticket.status == "claimed" else ticket.user_id
        return TurnOutcome(ticket=ticket, opened=False, reply=None, thread_owner=owner)

    async def _open_ticket(self, turn: Turn) -> tuple[Ticket, bool]:
        ticket, opened = await self.store.tickets.open_for_thread(
            channel=turn.channel,
            thread_ts=turn.thread_ts,
            user_id=turn.caller.slack_user_id,
            subject=" ".join(turn.text.split())[:120] or "(no text)",
            customer_id=turn.caller.customer_id,
            opening_text=turn.text,
        )
        if opened and turn.priority in PRIORITIES:
            await self.store.tickets.set_priority(ticket.id, str(turn.priority))
        if ticket.status == "resolved":
            await self.store.tickets.set_status(
                ticket.id,
                "open",
                actor=turn.caller.slack_user_id,
                note="reopened: the user wrote again",
            )
        return ticket, opened

    async def _hand_over(self, turn: Turn, reason: str) -> TurnOutcome:
        """The requester asked for a person (a button under an answer, or yes after a 👎):
        escalated in code, with the request and the desk's route for staff."""
        ticket = await self.store.tickets.by_thread(turn.channel, turn.thread_ts)
        if ticket is None or ticket.user_id != turn.caller.slack_user_id:
            log.info(
                "hand-over refused: not the requester's ticket",
                extra={
                    "ticket_id": ticket.id if ticket else None,
                    "user": turn.caller.slack_user_id,
                },
            )
            return TurnOutcome(
                ticket=ticket,
                opened=False,
                reply=None,
                private="Only the person who asked can do this here. Nothing was done.",
            )
        if ticket.status in ("escalated", "claimed"):
            return TurnOutcome(
                ticket=ticket,
                opened=False,
                reply=None,
                private=f"Ticket #{ticket.id} is already with our support staff; a person "
                "will follow up in this thread.",
            )
        route = " → ".join(ticket.agent_path) or "none"
        outcome = await self._queue_for_staff(
            turn,
            ticket,
            reason=reason,
            summary=f"Request: {ticket.subject}\nThe desk's route: {route}",
            opened=False,
        )
        log.info(
            "handed to a person at the user's request",
            extra={"slack_thread": turn.thread_key, "ticket_id": ticket.id},
        )
        outcome.agent_path = ticket.agent_path
        return outcome

    async def _to_staff(self, turn: Turn, ticket: Ticket, *, opened: bool) -> TurnOutcome:
        """Straight to the staff queue, unanswered by the AI (staff opened it for the queue)."""
        outcome = await self._queue_for_staff(
            turn,
            ticket,
            reason="opened by staff for the queue",
            summary=f"Request: {turn.text[:1500]}",
            opened=opened,
        )
        log.info("ticket queued for staff", extra={"ticket_id": ticket.id, "turn": turn.turn_id})
        return outcome

    async def _queue_for_staff(
        self, turn: Turn, ticket: Ticket, *, reason: str, summary: str, opened: bool
    ) -> TurnOutcome:
        """Escalated in code, no model run: the request is kept for staff and the thread gets
        the hand-over note."""
        context = self._context(turn, ticket)
        await record_escalation(context, reason=reason, summary=summary)
        return TurnOutcome(
            ticket=await self.store.tickets.get(ticket.id) or ticket,
            opened=opened,
            reply=handover_note(ticket.id),
            escalation=context.escalation,
        )

    def _context(
        self,
        turn: Turn,
        ticket: Ticket,
        *,
        staff_approved: bool = False,
        resume: Approval | None = None,
    ) -> DeskContext:
        """What the agents' tools see of this turn: its ticket, thread and caller (and the
        approval a resumed run goes on after, in the turn it was asked in)."""
        return DeskContext(
            store=self.store,
            caller=turn.caller,
            ticket_id=ticket.id,
            channel=turn.channel,
            thread_ts=turn.thread_ts,
            refund_approval_limit_cents=self.options.refund_approval_limit_cents,
            staff_approved=staff_approved,
            approval_id=resume.id if resume else None,
            turn=resume.turn if resume else turn.turn_id,
        )

    async def _closing(
        self, turn: Turn, closing: ClosingMessage, ticket: Ticket | None
    ) -> TurnOutcome | None:
        """A message that ends the conversation ("thanks!", "that solved it", "eso es todo";
        `agents_config.closing`): a short reply in the user's language, no agent runs and no
        ticket is opened for it. The requester resolves a ticket the desk answered (a rating
        is then asked for); any other ticket stays as it is, and a person owning the thread
        keeps it (silence, before this is called). `ticket`: the thread's, if any. None: the
        message answers a pending confirmation ("ok thanks" confirms), so the turn goes on as
        usual."""
        pending, answer = await self._pending(turn)
        if answer is not None:
            return None
        settled = await self._close(pending, "superseded") if pending is not None else None
        if ticket is None:
            outcome = TurnOutcome(ticket=None, opened=False, reply=None)
        elif ticket.status == "answered" and turn.caller.slack_user_id == ticket.user_id:
            outcome = await self._resolved_by_user(turn, ticket)
        else:
            outcome = TurnOutcome(ticket=ticket, opened=False, reply=None)
        state: TicketState = (
            "resolved"
            if outcome.resolved_by_user
            else "with_staff"
            if ticket is not None and ticket.status == "escalated"
            else "unchanged"
        )
        outcome.reply = closing_reply(closing, state, ticket.id if ticket else None)
        outcome.settled = settled
        outcome.language = closing.language
        log.info(
            "closing message answered",
            extra={
                "slack_thread": turn.thread_key,
                "ticket_id": ticket.id if ticket else None,
                "language": closing.language,
                "ticket_state": state,
            },
        )
        return outcome

    async def _pending(self, turn: Turn) -> tuple[Approval | None, Answer | None]:
        """The thread's pending confirmation, and the answer to it this message types out
        ("yes", "cancel"), if it says only that. Only its requester's messages answer it or
        move the conversation on: another member's "yes" in the thread leaves it pending."""
        pending = await self.store.approvals.pending_in_thread(turn.channel, turn.thread_ts)
        if pending is None or pending.requester != turn.caller.slack_user_id:
            return None, None
        return pending, typed_answer(turn.text)

    async def _resolved_by_user(self, turn: Turn, ticket: Ticket) -> TurnOutcome:
        """ "Thanks, that solved it": the ticket is resolved with the user as the actor (the
        Slack side then asks for a rating, as after a staff resolve). No agent runs."""
        await self.store.tickets.set_status(
            ticket.id,
            "resolved",
            actor=turn.caller.slack_user_id,
            note="the user said it is solved",
        )
        log.info(
            "ticket resolved by the user",
            extra={"slack_thread": turn.thread_key, "ticket_id": ticket.id, "turn": turn.turn_id},
        )
        current = await self.store.tickets.get(ticket.id)
        return TurnOutcome(
            ticket=current or ticket, opened=False, reply=None, resolved_by_user=True
        )

    # ---- 2. answers to a confirmation ----------------------------------------------------

    async def _answer(
        self,
        turn: Turn,
        approval: Approval | None,
        answer: Answer,
        progress: Progress | None = None,
    ) -> TurnOutcome:
        """The requester's Confirm or Cancel; anyone else, or a stale one, is refused."""
        ticket = await self.store.tickets.get(approval.ticket_id) if approval else None
        refusal = await self._refusal(turn, approval, ticket)
        if refusal is not None or approval is None or ticket is None:
            log.info(
                "confirmation refused",
                extra={
                    "ticket_id": ticket.id if ticket else None,
                    "approval_id": approval.id if approval else None,
                    "user": turn.caller.slack_user_id,
                },
            )
            # A settled confirmation is redrawn without its stale buttons; a pending one keeps
            # them: another user's click must not take them from the person who was asked.
            closed = approval if approval is not None and approval.status != "pending" else None
            return TurnOutcome(
                ticket=ticket, opened=False, reply=None, private=refusal, settled=closed
            )
        status: Literal["confirmed", "cancelled", "awaiting_staff"] = (
            "confirmed" if answer == "confirm" else "cancelled"
        )
        if status == "confirmed" and approval.approver == "staff":
            status = "awaiting_staff"  # the requester's yes, then a staff member's
        user = turn.caller.slack_user_id
        recorded = await self.store.approvals.decide(
            approval.id, status, user=user, turn=turn.turn_id
        )

        async def too_late(lost: Approval | None) -> str:
            return await self._refusal(turn, lost, ticket) or "This was already answered."

        decision = _Decision(status, recorded, too_late, closing_reply=CANCELLED_REPLY)
        return await self._act_on(turn, ticket, approval, decision, progress)

    async def _refusal(
        self, turn: Turn, approval: Approval | None, ticket: Ticket | None
    ) -> str | None:
        """Why this answer cannot settle the confirmation (said only to who answered)."""
        if approval is None or ticket is None or approval.thread_key != turn.thread_key:
            return "That confirmation is not valid here. Nothing was done."
        if approval.requester != turn.caller.slack_user_id:
            return "Only the person who asked can confirm or cancel this. Nothing was done."
        if approval.status != "pending" and approval.decided_turn != turn.turn_id:
            return {
                "awaiting_staff": "You confirmed this; it is waiting for a staff member's "
                "approval, and I'll tell you here when they have decided.",
                "rejected": "A staff member did not approve this, so nothing was done.",
                "confirmed": "This was already confirmed; it was done once.",
                "cancelled": "This was cancelled; nothing was done. Ask again if you want it.",
            }.get(
                approval.status,
                "This confirmation is no longer valid: nothing was done. Ask again if you "
                "still want it.",
            )
        if approval.status == "pending" and ticket.status in ("claimed", "resolved"):
            await self._close(approval, "superseded")
            return "This ticket has moved on (it is with our staff), so nothing was done."
        if approval.status == "pending" and approval.expired():
            await self._close(approval, "expired")
            return "This confirmation expired, so nothing was done. Ask again if you still want it."
        return None

    async def _review(self, turn: Turn, approval: Approval | None) -> TurnOutcome:
        """A staff member's Approve (the saved run resumes, the refund is issued once) or
        Reject (the run is closed, the requester is told why, politely)."""
        ticket = await self.store.tickets.get(approval.ticket_id) if approval else None
        reviewer = turn.reviewer or ""
        refusal = None
        if approval is None or ticket is None or approval.approver != "staff":
            refusal = "That approval is not valid. Nothing was done."
        elif not turn.reviewer_is_staff:
            refusal = NOT_STAFF_REVIEW
        elif reviewer == approval.requester:  # four eyes: nobody approves their own refund
            refusal = "You asked for this yourself, so another staff member must approve it."
        elif approval.status != "awaiting_staff" and approval.reviewed_turn != turn.turn_id:
            refusal = _reviewed_already(approval)
        if refusal is not None or approval is None or ticket is None:
            return TurnOutcome(ticket=ticket, opened=False, reply=None, private=refusal)
        status: Literal["confirmed", "rejected"] = (
            "confirmed" if turn.answer == "approve" else "rejected"
        )
        reason = " ".join(turn.text.split())[:500] or "no reason given"
        note = reason if status == "rejected" else None
        recorded = await self.store.approvals.review(
            approval.id, status, user=reviewer, turn=turn.turn_id, note=note
        )

        async def too_late(lost: Approval | None) -> str:
            return _reviewed_already(lost) if lost else "This was already decided."

        decision = _Decision(
            status,
            recorded,
            too_late,
            closing_reply=REJECTED_REPLY.format(reason=reason),
            by_staff=True,
        )
        return await self._act_on(turn, ticket, approval, decision)

    async def _act_on(
        self,
        turn: Turn,
        ticket: Ticket,
        approval: Approval,
        decision: _Decision,
        progress: Progress | None = None,
    ) -> TurnOutcome:
        """What follows an answer to `approval` (the requester's, or a staff member's review):
        refused when another answer was recorded first; else the run is closed (cancelled,
        rejected), waits for staff, or resumes with the yes."""
        if not decision.recorded:
            lost = await self.store.approvals.get(approval.id)  # another answer came first
            private = await decision.too_late(lost)
            return TurnOutcome(ticket=ticket, opened=False, reply=None, private=private)
        settled = await self.store.approvals.get(approval.id)
        log.info(
            "approval reviewed by staff" if decision.by_staff else "confirmation answered",
            extra={
                "ticket_id": ticket.id,
                "approval_id": approval.id,
                "status" if decision.by_staff else "answer": decision.status,
            },
        )
        # Staff's card is drawn again once they reviewed, or when it now waits for them.
        review = settled if decision.by_staff or decision.status == "awaiting_staff" else None
        if decision.status in ("cancelled", "rejected"):
            await self._write_closing(approval, decision.status)
            return TurnOutcome(
                ticket=ticket,
                opened=False,
                reply=decision.closing_reply,
                settled=settled,
                review=review,
            )
        if decision.status == "awaiting_staff":
            return TurnOutcome(
                ticket=ticket,
                opened=False,
                reply=AWAITING_STAFF_REPLY,
                settled=settled,
                review=review,
            )
        run = await self._run(
            turn, ticket, resume=approval, staff_approved=decision.by_staff, progress=progress
        )
        outcome = await self._settle(turn, ticket, run, opened=False)
        outcome.settled, outcome.review = settled, review
        return outcome

    async def _close(self, approval: Approval, status: Closing) -> Approval | None:
        """Close a pending confirmation without acting (superseded, expired)."""
        if not await self.store.approvals.decide(approval.id, status, user="desk", turn=0):
            return None
        await self._write_closing(approval, status)
        log.info("confirmation closed", extra={"approval_id": approval.id, "status": status})
        return await self.store.approvals.get(approval.id)

    async def _write_closing(self, approval: Approval, status: Closing) -> None:
        """The stopped calls get an output in the thread's memory ("not done: …"), so the
        next run's model input never holds a tool call without its result."""
        note = NOT_CONFIRMED_NOTE.format(why=_CLOSING_WHY[status])
        outputs = [
            {"type": "function_call_output", "call_id": a.call_id, "output": note}
            for a in approval.actions
        ]
        await self.store.conversations.add(
            approval.thread_key, approval.turn, outputs, self.options.history_turns
        )

    # ---- 3. the run --------------------------------------------------------------------

    async def _run(
        self,
        turn: Turn,
        ticket: Ticket,
        *,
        resume: Approval | None = None,
        staff_approved: bool = False,
        progress: Progress | None = None,
    ) -> _Run:
        """Run the agents on the turn's words, or resume a confirmed run with its yes.

        The run is streamed (`Runner.run_streamed`): its events go to `progress` as they come.
        A failing `progress` (the Slack side) never fails the run.
        """
        context = self._context(turn, ticket, staff_approved=staff_approved, resume=resume)
        run = _Run(context, _RunTrace())
        session = ThreadSession(
            self.store.conversations,
            turn.thread_key,
            turn=resume.turn if resume else turn.turn_id,  # a resumed run is one turn
            history_turns=self.options.history_turns,
            buffered=True,  # the run's items written in one transaction, when it ends
        )
        try:
            return await self._run_with(turn, ticket, run, session, resume, progress)
        finally:
            await session.flush()

    async def _run_with(
        self,
        turn: Turn,
        ticket: Ticket,
        run: _Run,
        session: ThreadSession,
        resume: Approval | None,
        progress: Progress | None,
    ) -> _Run:
        context = run.context
        try:
            start, run_input = await self._starting_point(turn, context, run.trace, resume)
            run.start = start.name
            streamed = Runner.run_streamed(
                start,
                run_input,
                context=context,
                session=session,
                max_turns=self.options.max_turns,
                hooks=run.trace,
                run_config=RunConfig(
                    workflow_name=WORKFLOW_NAME,
                    group_id=turn.thread_key,
                    trace_metadata={"ticket_id": str(ticket.id)},
                    trace_include_sensitive_data=self.options.trace_sensitive_data,
                ),
            )
            if await _show_events(streamed, _Screen(context), progress, ticket.id):
                run.stopped = True
                return run
            run.result = streamed
        # ---- guardrails: a tripped one gets a fixed answer, and the ticket goes to staff ----
        except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered) as tripped:
            log.warning("guardrail tripped", extra={"ticket_id": ticket.id, "turn": turn.turn_id})
            run.blocked = await guardrail_tripped(context, tripped)
        # ---- end guardrails
        except MaxTurnsExceeded:
            run.error = f"the run exceeded MAX_TURNS={self.options.max_turns}"
        except Exception as exc:  # provider errors come in many types
            run.error = f"{type(exc).__name__}: {exc}"[:500]
        return run

    async def _starting_point(
        self, turn: Turn, context: DeskContext, trace: _RunTrace, resume: Approval | None
    ) -> tuple[Agent[DeskContext], str | RunState[DeskContext]]:
        """The agent the run starts with and its input: a resumed run goes on where it was
        paused, with the yes; else the router picks (if any), or triage does."""
        if resume is not None:
            return self.agents[resume.start_agent], await self._approved_state(resume, context)
        if self.router is not None:
            return await self.router.choose(turn.text, context, trace), turn.text
        return self.agents["triage"], turn.text

    async def _approved_state(
        self, approval: Approval, context: DeskContext
    ) -> RunState[DeskContext]:
        state: RunState[DeskContext] = await RunState.from_json(
            self.agents[approval.start_agent],
            approval.state,
            context_override=RunContextWrapper(context=context),
        )
        for item in state.get_interruptions():
            state.approve(item)  # exactly the calls the requester saw (one confirmation)
        return state

    # ---- 4. the outcome ----------------------------------------------------------------

    async def _settle(self, turn: Turn, ticket: Ticket, run: _Run, *, opened: bool) -> TurnOutcome:
        """Escalation and status in code, whatever the model wrote; a pending yes is asked."""
        if run.stopped:  # the user stopped it: nothing more is said, and the ticket stays open
            stopped = await self._routed(ticket, run, opened=opened, reply=STOPPED_NOTE)
            return replace(stopped, stopped=True)
        confirmation = None
        reply: str | None = None
        if run.result is not None and run.result.interruptions:
            confirmation = await self._ask(turn, ticket, run)
            reply = confirmation_question(confirmation.actions)
        elif run.result is not None:
            reply = str(run.result.final_output or "").strip()
            if not reply:
                run.error = "the model returned an empty answer"
        elif run.blocked is not None:
            reply = run.blocked
        extra = {"slack_thread": turn.thread_key, "ticket_id": ticket.id, "turn": turn.turn_id}
        context = run.context
        if run.error is not None:
            log.warning("turn failed; escalating", extra={**extra, "error": run.error})
            await self._escalate(context, turn, "the AI could not answer", run.error, "high")
            reply = apology(ticket.id)
        elif context.escalation is None and STAFF_HANDOVER_AGENTS & set(run.trace.path):
            await self._escalate(context, turn, "handed to a person", reply or "", "normal")
        if context.escalation is not None and reply and f"#{ticket.id}" not in reply:
            reply = f"{reply}\n\n{handover_note(ticket.id)}"  # the user always learns the number
        log.info(
            "turn answered",
            extra={
                **extra,
                "agents": run.trace.path,
                "tools": run.trace.tools,
                "model_calls": run.trace.model_calls,
                "escalated": context.escalation is not None,
                "confirmation": confirmation.id if confirmation else None,
            },
        )
        # Answered, unless the ticket is still with staff (escalated); the route; the ticket.
        answered = run.error is None and context.escalation is None
        outcome = await self._routed(ticket, run, opened=opened, reply=reply, answered=answered)
        return replace(
            outcome,
            escalation=context.escalation,
            error=run.error,
            confirmation=confirmation,
            model=self._model_of(run.trace.path),
        )

    async def _routed(
        self,
        ticket: Ticket,
        run: _Run,
        *,
        opened: bool,
        reply: str | None,
        answered: bool = False,
    ) -> TurnOutcome:
        """The run's route kept on the ticket (with `answered`, the ticket answered too, unless
        it is still with staff), in one transaction; the outcome of what the run did."""
        current = await self.store.tickets.record_turn(
            ticket.id,
            answered=answered,
            department=department_of(run.trace.path),
            agent_path=run.trace.path,
        )
        return TurnOutcome(
            ticket=current or ticket,
            opened=opened,
            reply=reply,
            agent_path=run.trace.path,
            tools_called=run.trace.tools,
            model_calls=run.trace.model_calls,
        )

    def _model_of(self, path: list[str]) -> str | None:
        agent = self.agents.get(path[-1]) if path else None
        return model_label(agent.model) if agent is not None else None

    async def _escalate(
        self, context: DeskContext, turn: Turn, reason: str, detail: str, priority: str
    ) -> None:
        """Record the hand-over the run implied, unless a tool already did (or staff have it)."""
        if context.escalation is not None:
            return
        what = "What went wrong" if priority == "high" else "The desk's last words"
        await record_escalation(
            context,
            reason=reason,
            summary=f"Request: {turn.text[:1500]}\n{what}: {detail[:1000]}",
            priority=priority,
        )

    async def _ask(self, turn: Turn, ticket: Ticket, run: _Run) -> Approval:
        """Save the stopped run and what it would do; the reply asks the requester."""
        assert run.result is not None
        wrapper = RunContextWrapper(context=run.context)
        actions = []
        approver = "requester"
        policy, reasoning = [], []
        for item in run.result.interruptions:
            name = item.name or "?"
            confirmation = confirmation_for(name)
            arguments = json.loads(item.arguments or "{}")
            proposal = await confirmation.propose(wrapper, arguments) if confirmation else None
            description = (proposal and (proposal.action or proposal.refusal)) or name
            actions.append(PlannedAction(name, item.call_id or "", description))
            approver = confirmation.approver if confirmation else approver
            if proposal is not None and proposal.review:  # a person must approve it too
                approver = "staff"
                policy.append(proposal.review)
                reasoning.append(str(arguments.get("reason") or "").strip()[:500])
        said = ItemHelpers.text_message_outputs(run.result.new_items).strip()
        review = None
        if approver == "staff":
            review = {
                "policy": "\n".join(policy),
                "reasoning": "\n".join(r for r in (said[:1000], *reasoning) if r) or "(none given)",
            }
        state = run.result.to_state().to_json(context_serializer=lambda _: {})
        return await self.store.approvals.create(
            ticket_id=ticket.id,
            channel=turn.channel,
            thread_ts=turn.thread_ts,
            requester=turn.caller.slack_user_id,
            approver=approver,
            turn=turn.turn_id,
            start_agent=run.start,
            actions=actions,
            state=state,
            ttl_s=self.options.confirmation_ttl_s,
            review=review,
        )


def _reviewed_already(approval: Approval) -> str:
    if approval.status == "confirmed" and approval.reviewed_by:
        return "This was already approved; it was done once."
    if approval.status == "rejected":
        return "This was already rejected; nothing was done."
    return "This is not waiting for a staff approval any more. Nothing was done."

"""`Desk`: one conversation turn, from a user's words to the desk's reply and the ticket's state.

It knows nothing of Slack: the Slack worker, the terminal `chat` and `ask` all call
`Desk.handle(Turn)` and present the `TurnOutcome` their own way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents import Agent, RunConfig, RunContextWrapper, RunHooks, Runner, Tool
from agents.exceptions import (
    AgentsException,
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    OutputGuardrailTripwireTriggered,
)

from agents_config.context import Caller, DeskContext, EscalationRequest
from agents_config.guardrails import guardrail_tripped
from agents_config.memory import ThreadSession
from agents_config.routing import department_of
from agents_config.tools.escalation import record_escalation
from storage.store import Store
from storage.tickets import Ticket

log = logging.getLogger(__name__)

WORKFLOW_NAME = "support-desk"


@dataclass(frozen=True)
class Turn:
    """One message to answer. `turn_id` is unique per message (the inbox id in Slack)."""

    turn_id: int
    channel: str
    thread_ts: str
    caller: Caller
    text: str
    resumed: bool = False  # run before and interrupted (crash, restart, retry)

    @property
    def thread_key(self) -> str:
        return f"{self.channel}:{self.thread_ts}"


@dataclass
class TurnOutcome:
    ticket: Ticket
    opened: bool
    reply: str | None  # None: stay silent (a person owns the thread)
    agent_path: list[str] = field(default_factory=list)
    tools_called: list[str] = field(default_factory=list)
    escalation: EscalationRequest | None = None
    error: str | None = None  # set when the run failed and the user got the apology
    model_calls: int = 0

    @property
    def department(self) -> str | None:
        return department_of(self.agent_path)


@dataclass(frozen=True)
class DeskOptions:
    history_turns: int = 8
    max_turns: int = 10
    trace_sensitive_data: bool = False


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


class TurnRouter(Protocol):
    """Picks the agent a turn starts at (ROUTING_MODE=classifier); None: triage's handoffs."""

    async def choose(
        self, text: str, context: DeskContext, hooks: RunHooks[DeskContext] | None = None
    ) -> Agent[DeskContext]: ...


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

    async def handle(self, turn: Turn) -> TurnOutcome:
        tickets = self.store.tickets
        ticket, opened = await tickets.open_for_thread(
            channel=turn.channel,
            thread_ts=turn.thread_ts,
            user_id=turn.caller.slack_user_id,
            subject=" ".join(turn.text.split())[:120] or "(no text)",
            customer_id=turn.caller.customer_id,
            opening_text=turn.text,
        )
        if ticket.status == "claimed":
            return TurnOutcome(ticket=ticket, opened=False, reply=None)
        if ticket.status == "resolved":
            await tickets.set_status(
                ticket.id,
                "open",
                actor=turn.caller.slack_user_id,
                note="reopened: the user wrote again",
            )
        if turn.resumed:  # an interrupted turn starts over from a clean history
            await self.store.conversations.discard_turn(turn.thread_key, turn.turn_id)

        context = DeskContext(
            store=self.store,
            caller=turn.caller,
            ticket_id=ticket.id,
            channel=turn.channel,
            thread_ts=turn.thread_ts,
        )
        trace = _RunTrace()
        session = ThreadSession(
            self.store.conversations,
            turn.thread_key,
            turn=turn.turn_id,
            history_turns=self.options.history_turns,
        )
        extra = {"slack_thread": turn.thread_key, "ticket_id": ticket.id, "turn": turn.turn_id}
        error: str | None = None
        reply: str | None = None
        try:
            start = self.agents["triage"]
            if self.router is not None:
                start = await self.router.choose(turn.text, context, trace)
            result = await Runner.run(
                start,
                turn.text,
                context=context,
                session=session,
                max_turns=self.options.max_turns,
                hooks=trace,
                run_config=RunConfig(
                    workflow_name=WORKFLOW_NAME,
                    group_id=turn.thread_key,
                    trace_metadata={"ticket_id": str(ticket.id)},
                    trace_include_sensitive_data=self.options.trace_sensitive_data,
                ),
            )
            reply = str(result.final_output or "").strip()
            if not reply:
                error = "the model returned an empty answer"
        # ---- guardrails: a tripped one gets a fixed answer, and the ticket goes to staff ----
        except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered) as tripped:
            log.warning("guardrail tripped", extra={**extra, "guardrail": str(tripped)})
            reply = await guardrail_tripped(context, tripped)
        # ---- end guardrails
        except MaxTurnsExceeded:
            error = f"the run exceeded MAX_TURNS={self.options.max_turns}"
        except (AgentsException, Exception) as exc:  # provider errors come in many types
            error = f"{type(exc).__name__}: {exc}"[:500]

        if error is not None:
            log.warning("turn failed; escalating", extra={**extra, "error": error})
            if context.escalation is None:
                await record_escalation(
                    context,
                    reason="the AI could not answer",
                    summary=f"Request: {turn.text[:1500]}\nWhat went wrong: {error}",
                    priority="high",
                )
            reply = apology(ticket.id)
        elif context.escalation is not None:
            if reply and f"#{ticket.id}" not in reply:  # the user always learns the number
                reply = f"{reply}\n\n{handover_note(ticket.id)}"
        elif ticket.status != "escalated":  # still waiting for staff, whatever the AI said
            await tickets.set_status(ticket.id, "answered", actor="desk")
        await tickets.record_route(
            ticket.id, department=department_of(trace.path), agent_path=trace.path
        )
        log.info(
            "turn answered",
            extra={
                **extra,
                "agents": trace.path,
                "tools": trace.tools,
                "model_calls": trace.model_calls,
                "escalated": context.escalation is not None,
            },
        )
        refreshed = await tickets.get(ticket.id)
        return TurnOutcome(
            ticket=refreshed or ticket,
            opened=opened,
            reply=reply,
            agent_path=trace.path,
            tools_called=trace.tools,
            escalation=context.escalation,
            error=error,
            model_calls=trace.model_calls,
        )

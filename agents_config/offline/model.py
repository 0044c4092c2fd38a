"""`OfflineModel`: the `agents.Model` of one agent on the offline engine."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents import FunctionTool, Model, ModelResponse, ModelSettings, Tool, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from agents.models.interface import ModelTracing
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from agents_config.offline.answers import (
    bug_intake,
    clarifying_question,
    compose_answer,
    found_nothing,
    intake_answer,
)
from agents_config.offline.conversation import Conversation, read_conversation
from agents_config.offline.intents import in_context, intent_holder
from agents_config.offline.research import analyst
from agents_config.offline.roles import role_for
from agents_config.offline.routing import (
    ROUTE_TABLES,
    choose_route,
    decide_in_context,
    route_of,
)
from agents_config.offline.structured import structured_output
from agents_config.offline.text import signed
from agents_config.offline.tools import next_step
from agents_config.offline.turn import Reply, Structured, ToolCall, Turn
from agents_config.routing import AGENT_DEPARTMENTS, TRIAGE_ROUTES

_CLARIFY = re.compile(r"clarifying question", re.I)
# A specialist asked by a pipeline (`agents_config.pipelines.tools`), not talking to the user.
_CONSULTED = re.compile(r"consulted by a research coordinator", re.I)


class OfflineModel(Model):
    """The offline engine for one agent. See the package docstring for what it does."""

    def __init__(self, agent_name: str) -> None:
        self.agent_name = agent_name

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> ModelResponse:
        output = self.respond(
            input, tools, output_schema, handoffs, instructions=system_instructions
        )
        return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    async def stream_response(  # an async generator is an iterator
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """`response.created`, the text of each message as deltas of a few words (as a real
        model streams tokens), then `response.completed` with the whole response."""
        output = self.respond(
            input, tools, output_schema, handoffs, instructions=system_instructions
        )
        response = Response(
            id=f"resp_{_digest(self.agent_name, input)}",
            created_at=0,
            model="offline",
            object="response",
            output=output,
            tool_choice="auto",
            tools=[],
            top_p=None,
            parallel_tool_calls=False,
            status="completed",
        )
        started = response.model_copy(update={"output": [], "status": "in_progress"})
        yield ResponseCreatedEvent(type="response.created", response=started, sequence_number=0)
        sequence = 1
        for index, item in enumerate(output):
            if not isinstance(item, ResponseOutputMessage):
                continue
            for part, content in enumerate(item.content):
                if not isinstance(content, ResponseOutputText):
                    continue
                for delta in text_deltas(content.text):
                    yield ResponseTextDeltaEvent(
                        type="response.output_text.delta",
                        item_id=item.id,
                        output_index=index,
                        content_index=part,
                        delta=delta,
                        logprobs=[],
                        sequence_number=sequence,
                    )
                    sequence += 1
        yield ResponseCompletedEvent(
            type="response.completed", response=response, sequence_number=sequence
        )

    def respond(
        self,
        input: str | list[TResponseInputItem],
        tools: Sequence[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: Sequence[Handoff],
        *,
        instructions: str | None = None,
    ) -> list[TResponseOutputItem]:
        """The output items of one model call (pure: the same arguments give the same items)."""
        conversation = read_conversation(input)
        conversation.chat = not _CONSULTED.search(instructions or "")
        digest = _digest(self.agent_name, input)
        function_tools = {t.name: t for t in tools if isinstance(t, FunctionTool)}
        schema = (
            None
            if output_schema is None or output_schema.is_plain_text()
            else output_schema.json_schema()
        )
        if handoffs and not conversation.calls:
            target = self._handoff_target(conversation, handoffs, set(function_tools))
            if target is not None:
                return [_handoff_call(target, conversation, digest)]
        turn = Turn(self.agent_name, instructions or "", conversation, function_tools, schema)
        role = role_for(turn)
        if role is not None:
            return [_item(role(turn), digest)]
        if not function_tools and schema is None:
            if handoffs or _CLARIFY.search(turn.instructions):  # triage, with or without handoffs
                return [_message(signed(clarifying_question(conversation.request)), digest)]
            return [_item(analyst(turn), digest)]  # plain text to work on: its key points
        if schema is not None:
            return [_item(Structured(structured_output(schema, conversation.request)), digest)]
        step = next_step(self.agent_name, conversation, function_tools)
        if step.tool is not None:
            return [_function_call(step.tool.name, step.arguments, digest)]
        note = None
        if not step.missing and all(
            found_nothing(c, conversation.request) for c in conversation.calls
        ):
            catalogue = function_tools.get(CATALOGUE_TOOL)
            if catalogue is not None and CATALOGUE_TOOL not in {c.name for c in conversation.calls}:
                # A buying question no article answers: show the catalogue and offer sales.
                return [_function_call(catalogue.name, {}, digest)]
            intake = intake_answer(conversation, AGENT_DEPARTMENTS.get(self.agent_name))
            if intake is not None:  # a vague request: ask for what is needed to work on it
                return [_message(intake, digest)]
            escalation = _human_handoff(handoffs, conversation, self.agent_name)
            if escalation is not None:  # nothing here could help: hand over to a person
                return [_handoff_call(escalation, conversation, digest)]
        if (
            conversation.calls
            and conversation.calls[-1].name == CATALOGUE_TOOL
            and all(found_nothing(c, conversation.request) for c in conversation.calls[:-1])
        ):
            note = SALES_OFFER
        if BUG_TOOL in function_tools and BUG_TOOL not in {c.name for c in conversation.calls}:
            note = bug_intake(conversation) or note  # a defect: ask what the report needs
        return [_message(compose_answer(conversation, step.missing, note=note), digest)]

    def _handoff_target(
        self, conversation: Conversation, handoffs: Sequence[Handoff], own_tools: set[str]
    ) -> Handoff | None:
        """The handoff the router picks, or None to stay.

        The department comes from `decide_in_context` (escalation signs, then the trained
        classifier, with the thread for follow-ups): a person whenever it says `human`; for
        triage, the department's specialist. Within a department (billing's sub-specialists)
        and for handoffs without declared criteria, the routing tables are scored as before.
        A specialist does not re-route to its own desk, nor to an agent already on the path.
        """
        available = {
            h.agent_name: h
            for h in handoffs
            if h.agent_name not in conversation.path and h.agent_name != self.agent_name
        }
        own = AGENT_DEPARTMENTS.get(self.agent_name)
        decision = decide_in_context(conversation.request, conversation.earlier)
        by_department = {r.department: r.agent for r in TRIAGE_ROUTES}
        wanted = by_department.get(decision.department)
        if wanted in available and (decision.department == "human" or own is None):
            return available[wanted]
        asked = in_context(conversation.request, conversation.with_context())
        holder = intent_holder(asked, own_tools, set(available))
        if own is not None and holder is not None:  # the tool the request calls for is theirs
            return available[holder]
        known = {r.agent for table in ROUTE_TABLES for r in table}
        unknown = tuple(route_of(h) for h in available.values() if h.agent_name not in known)
        tables = [t for t in ROUTE_TABLES if t is not TRIAGE_ROUTES]
        if unknown:
            tables.append(unknown)
        for text in dict.fromkeys([conversation.request, asked]):
            for table in tables:
                best = choose_route(text, table)
                if best is not None and best.agent in available:
                    return available[best.agent]
        return None


CATALOGUE_TOOL = "list_plans"
BUG_TOOL = "report_bug"
SALES_OFFER = (
    "For anything the plans above don't cover (special pricing, programmes, procurement or "
    'hosting questions), our sales team can help: say "book a demo" and I\'ll set up a call.'
)


def _human_handoff(
    handoffs: Sequence[Handoff], conversation: Conversation, agent: str
) -> Handoff | None:
    for handoff in handoffs:
        route = route_of(handoff)
        if route.department == "human" and handoff.agent_name not in (*conversation.path, agent):
            return handoff
    return None


_DELTA = re.compile(r"\S+\s*|\s+")
WORDS_PER_DELTA = 4


def text_deltas(text: str) -> list[str]:
    """`text` cut into pieces of a few words (whitespace kept), which join back to it."""
    words = _DELTA.findall(text)
    return ["".join(words[i : i + WORDS_PER_DELTA]) for i in range(0, len(words), WORDS_PER_DELTA)]


def _digest(agent: str, input: Any) -> str:
    """A stable fingerprint of the call, so ids are unique per call yet reproducible."""
    raw = json.dumps([agent, input], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _item(reply: Reply, digest: str) -> TResponseOutputItem:
    if isinstance(reply, ToolCall):
        return _function_call(reply.name, reply.arguments, digest)
    if isinstance(reply, Structured):
        return _message(json.dumps(reply.value, ensure_ascii=False), digest)
    return _message(signed(reply), digest)


def _message(text: str, digest: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=f"msg_{digest}",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(text=text, type="output_text", annotations=[], logprobs=[])],
    )


def _function_call(name: str, arguments: dict[str, Any], digest: str) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=f"fc_{digest}",
        call_id=f"call_{digest}",
        type="function_call",
        name=name,
        arguments=json.dumps(arguments, ensure_ascii=False, separators=(",", ":")),
    )


def _handoff_call(
    handoff: Handoff, conversation: Conversation, digest: str
) -> ResponseFunctionToolCall:
    schema = handoff.input_json_schema
    arguments = structured_output(schema, conversation.request) if schema.get("properties") else {}
    return _function_call(handoff.tool_name, arguments, digest)

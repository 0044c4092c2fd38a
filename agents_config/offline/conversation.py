"""Reading the model input: the request, earlier messages, this turn's handoffs and tool calls."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agents.items import TResponseInputItem


@dataclass
class Call:
    name: str
    arguments: dict[str, Any]
    call_id: str
    output: str | None = None


@dataclass
class Conversation:
    """What the model input says, seen from the current turn (since the latest user message)."""

    request: str = ""
    earlier: list[str] = field(default_factory=list)  # older user messages and thread summary
    path: list[str] = field(default_factory=list)  # agents handed to during this turn
    calls: list[Call] = field(default_factory=list)  # this turn's tool calls by this agent
    turn_calls: list[Call] = field(default_factory=list)  # all of this turn's tool calls
    chat: bool = True  # a chat turn; False when consulted by a pipeline (no greeting then)

    @property
    def user_texts(self) -> list[str]:
        return [self.request, *reversed(self.earlier)]

    @property
    def everything(self) -> str:
        """Every user message, oldest first (a pipeline agent's whole brief)."""
        return "\n\n".join([*self.earlier, self.request])

    def with_context(self) -> str:
        """The request plus the previous user message, for follow-ups like "ORD-1001"."""
        return " ".join([self.request, *self.earlier[-1:]])

    def output_of(self, tool: str) -> str | None:
        return next((c.output for c in reversed(self.calls) if c.name == tool), None)


def field_of(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (field_of(part, "text") or field_of(part, "refusal") or "" for part in content)
        return "\n".join(p for p in parts if p)
    return "" if content is None else str(content)


def read_conversation(items: str | list[TResponseInputItem]) -> Conversation:
    if isinstance(items, str):
        return Conversation(request=items)
    conversation = Conversation()
    last_user = max(
        (i for i, item in enumerate(items) if field_of(item, "role") == "user"), default=-1
    )
    pending: dict[str, Call] = {}
    for index, item in enumerate(items):
        role, kind = field_of(item, "role"), field_of(item, "type")
        if role in ("user", "system", "developer") and kind in (None, "message"):
            text = text_of(field_of(item, "content"))
            if index == last_user:
                conversation.request = text
            elif role == "user" or text.startswith("Summary of earlier"):
                conversation.earlier.append(text)
        elif index < last_user:
            continue
        elif kind == "function_call":
            call = Call(
                str(field_of(item, "name")),
                json_object(field_of(item, "arguments")),
                str(field_of(item, "call_id")),
            )
            pending[call.call_id] = call
            conversation.calls.append(call)
            conversation.turn_calls.append(call)
        elif kind == "function_call_output" and field_of(item, "call_id") in pending:
            call = pending[field_of(item, "call_id")]
            call.output = text_of(field_of(item, "output"))
            target = json_object(call.output).get("assistant")
            if isinstance(target, str):  # the SDK's transfer message: a handoff happened
                conversation.path.append(target)
                conversation.turn_calls.remove(call)
                conversation.calls = []  # what came before belongs to the previous agent
    return conversation


def json_object(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}

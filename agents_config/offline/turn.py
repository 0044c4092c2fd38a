"""What a pipeline role sees of one model call (`Turn`), and what it may answer (`Reply`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents import FunctionTool

from agents_config.offline.conversation import Conversation
from agents_config.offline.text import first_sentence, unsigned


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Structured:
    value: Any


Reply = str | ToolCall | Structured


@dataclass(frozen=True)
class Turn:
    """One model call of an agent, as a role sees it."""

    agent: str
    instructions: str
    conversation: Conversation
    tools: dict[str, FunctionTool]
    schema: dict[str, Any] | None  # the output schema; None for plain text

    @property
    def request(self) -> str:
        return unsigned(self.conversation.request)


Role = Callable[[Turn], Reply]


def topic_of(text: str) -> str:
    found = re.search(r"^(?:Topic|Question):\s*(.+)$", text, re.M)
    return (found.group(1) if found else first_sentence(text, 300)).strip()


def call_with(tool: FunctionTool, text: str) -> ToolCall:
    """A call of `tool` with `text` as its one text parameter (the first string one)."""
    schema = tool.params_json_schema
    properties: dict[str, Any] = schema.get("properties", {})
    required = [p for p in schema.get("required", []) if p in properties]
    name = next(
        (p for p in [*required, *properties] if properties[p].get("type") == "string"),
        next(iter(properties), "input"),
    )
    return ToolCall(tool.name, {name: text})

"""Helpers for scripting the SDK's `ScriptedModel` in tests."""

from __future__ import annotations

import itertools
from typing import Any

from agents.testing import ScriptedModel, function_call

from agents_config.agents import ModelResolver

_ids = itertools.count(1)


def call(name: str, arguments: dict[str, Any] | None = None) -> list[Any]:
    """One model step that calls tool `name` with `arguments`."""
    return [function_call(name, arguments or {}, call_id=f"call_{next(_ids)}")]


def handoff(agent: str) -> list[Any]:
    """One model step that hands the conversation to `agent`."""
    return call(f"transfer_to_{agent}")


def scripted(*steps: Any) -> tuple[ScriptedModel, ModelResolver]:
    """One scripted model for every agent: returns (model, resolver for build_agents)."""
    model = ScriptedModel(list(steps))
    return model, lambda spec: model


def tool_output(model: ScriptedModel, name: str) -> str:
    """The output of the (first) call of tool `name` that the model was shown."""
    names: dict[str, str] = {}
    for recorded in model.calls:
        for item in recorded.input if isinstance(recorded.input, list) else []:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "function_call":
                names[str(item.get("call_id"))] = str(item.get("name"))
            elif item.get("type") == "function_call_output":
                if names.get(str(item.get("call_id"))) == name:
                    return str(item.get("output"))
    raise AssertionError(f"the model was never shown an output of {name}")

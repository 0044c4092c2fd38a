"""Helpers for scripting the SDK's `ScriptedModel` in tests."""

from __future__ import annotations

import itertools
from typing import Any

from agents.testing import ScriptedModel, assistant_message, function_call

from agents_config.agents import ModelResolver

_ids = itertools.count(1)


def call(name: str, arguments: dict[str, Any] | None = None) -> list[Any]:
    """One model step that calls tool `name` with `arguments`."""
    return [function_call(name, arguments or {}, call_id=f"call_{next(_ids)}")]


def handoff(agent: str) -> list[Any]:
    """One model step that hands the conversation to `agent`."""
    return call(f"transfer_to_{agent}")


REFUND_QUESTION = "Can I get my money back for ORD-1001?"


def refund_check(answer: str) -> list[list[Any]]:
    """The steps of `REFUND_QUESTION`: triage → billing specialist → refund processor, who
    checks ORD-1001's eligibility, then `answer`."""
    return [
        handoff("billing_specialist"),
        handoff("refund_processor"),
        call("check_refund_eligibility", {"order_id": "ORD-1001"}),
        [assistant_message(answer)],
    ]


def scripted(*steps: Any) -> tuple[ScriptedModel, ModelResolver]:
    """One scripted model for every agent: returns (model, resolver for build_agents)."""
    model = ScriptedModel(list(steps))
    return model, lambda spec: model


def tool_output(model: ScriptedModel, name: str) -> str:
    """The output of the (first) call of tool `name` that the model was shown."""
    outputs = tool_outputs(model, name)
    if not outputs:
        raise AssertionError(f"the model was never shown an output of {name}")
    return outputs[0]


def tool_outputs(model: ScriptedModel, name: str) -> list[str]:
    """The outputs of every call of tool `name` the model was shown, one per call, in order."""
    names: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for recorded in model.calls:
        for item in recorded.input if isinstance(recorded.input, list) else []:
            if not isinstance(item, dict):
                continue
            call_id = str(item.get("call_id"))
            if item.get("type") == "function_call":
                names[call_id] = str(item.get("name"))
            elif item.get("type") == "function_call_output" and names.get(call_id) == name:
                outputs.setdefault(call_id, str(item.get("output")))
    return list(outputs.values())

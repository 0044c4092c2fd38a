"""A faster equivalent of one piece of the Agents SDK's per-step bookkeeping.

After every step of a streamed run, the SDK (0.24) names each agent of the graph reachable
from the starting agent, to snapshot which tools each one used. It does so by building a
signature of every agent (its instructions, its tools' JSON schemas, its guardrails, …) and
sorting agents of the same name by it, even when no two agents share a name. With the desk's
dozen agents that was about a third of the offline engine's time per request.

When every agent of the graph has its own name, the SDK's answer is simply each agent's name
(a group of one sorts to itself); `identity_keys` returns that without the signatures, and
defers to the SDK otherwise. `install` puts it where the SDK looks it up (once; idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents import Agent, run_state
from agents import _run_state_agent_identity as identity
from agents.run_internal import tool_use_tracker
from agents.sandbox import runtime_session_manager

_SDK_KEYS: Callable[[Agent[Any]], dict[int, str]] = identity._build_agent_identity_keys_by_id
_USERS = (identity, run_state, tool_use_tracker, runtime_session_manager)


def identity_keys(initial_agent: Agent[Any]) -> dict[int, str]:
    """The SDK's identity key of each agent reachable from `initial_agent` (by `id`)."""
    agents = list(identity._iter_agent_graph(initial_agent))
    keys = {id(agent): agent.name for agent in agents}
    if len(set(keys.values())) == len(agents):
        return keys
    return _SDK_KEYS(initial_agent)  # duplicate names: the SDK's signatures decide


def install() -> None:
    for module in _USERS:
        if getattr(module, "_build_agent_identity_keys_by_id", None) is _SDK_KEYS:
            module._build_agent_identity_keys_by_id = identity_keys  # type: ignore[attr-defined]

"""A faster path through one Agents SDK helper that a streamed run calls on every turn.

`Runner.run_streamed` snapshots its tool-use tracker after each model turn, and each snapshot
rebuilds the SDK's "agent identity map" of the whole agent graph
(`agents._run_state_agent_identity._build_agent_identity_map`). That builder computes a
signature of every agent (its instructions, tools, guardrails, settings, normalised
recursively) only to order agents that share a name; it computes it for every agent even
when no two share one. For the desk's seven agents that is about 5 ms of CPU per call, two or
three calls per answer.

When every agent of the graph has its own name (always so for the desk's agents), the SDK's
map is exactly `{agent.name: agent}` in graph order: each name is a group of one, kept under
its own name. `install()` puts a builder in front of the SDK's that returns that map directly
and hands any graph with a repeated name to the SDK's own builder. Nothing else changes; if
the SDK no longer has these helpers, nothing is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# The SDK modules that bind the builder by name (imported with `from … import`).
_USERS = (
    "agents._run_state_agent_identity",
    "agents.run_internal.tool_use_tracker",
    "agents.run_state",
)
_sdk_builder: Callable[[Any], dict[str, Any]] | None = None  # the SDK's, once replaced


def identity_map(
    initial_agent: Any, sdk_builder: Callable[[Any], dict[str, Any]], graph: Callable[[Any], Any]
) -> dict[str, Any]:
    """The SDK's agent identity map of the graph reachable from `initial_agent`."""
    ordered = list(graph(initial_agent))
    by_name = {agent.name: agent for agent in ordered}
    if len(by_name) == len(ordered):
        return by_name
    return sdk_builder(initial_agent)


def install() -> bool:
    """Put `identity_map` in front of the SDK's builder, once per process. False when the
    SDK has no such builder (a newer SDK): then nothing is changed."""
    global _sdk_builder
    if _sdk_builder is not None:
        return True
    import importlib

    try:
        modules = [importlib.import_module(name) for name in _USERS]
        identity = modules[0]
        sdk_builder = identity._build_agent_identity_map
        graph = identity._iter_agent_graph
    except (ImportError, AttributeError):
        log.info("the Agents SDK has no agent identity map builder; nothing to speed up")
        return False

    def fast(initial_agent: Any) -> dict[str, Any]:
        return identity_map(initial_agent, sdk_builder, graph)

    for module in modules:
        if getattr(module, "_build_agent_identity_map", None) is sdk_builder:
            setattr(module, "_build_agent_identity_map", fast)  # noqa: B010
    _sdk_builder = sdk_builder
    return True


def sdk_builder() -> Callable[[Any], dict[str, Any]]:
    """The SDK's own builder, installed over or not (for tests)."""
    import agents._run_state_agent_identity as identity

    return _sdk_builder or identity._build_agent_identity_map

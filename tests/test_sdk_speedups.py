"""The faster agent identity map (agents_config.sdk_speedups) gives exactly the SDK's map."""

from __future__ import annotations

import agents._run_state_agent_identity as identity
from agents import Agent
from agents.run_internal import tool_use_tracker

from agents_config import sdk_speedups
from agents_config.agents import build_agents
from agents_config.offline import OfflineModel

SDK_BUILDER = sdk_speedups.sdk_builder()  # the SDK's own, installed over or not


def test_the_desks_graph_gets_the_sdks_map_in_the_sdks_order() -> None:
    agents = build_agents(lambda spec: OfflineModel(spec.name))
    for start in agents.values():
        sdk = SDK_BUILDER(start)
        fast = sdk_speedups.identity_map(start, SDK_BUILDER, identity._iter_agent_graph)
        assert list(fast.items()) == list(sdk.items())
        assert all(fast[name] is sdk[name] for name in sdk)


def test_a_graph_with_a_repeated_name_is_left_to_the_sdk() -> None:
    twin_a, twin_b = Agent(name="twin", instructions="a"), Agent(name="twin", instructions="b")
    start = Agent(name="start", handoffs=[twin_a, twin_b])
    fast = sdk_speedups.identity_map(start, SDK_BUILDER, identity._iter_agent_graph)
    assert list(fast.items()) == list(SDK_BUILDER(start).items())
    assert set(fast) == {"start", "twin", "twin#2"}


def test_install_puts_it_where_streamed_runs_snapshot_their_tools() -> None:
    assert sdk_speedups.install()
    assert identity._build_agent_identity_map is not SDK_BUILDER
    assert tool_use_tracker._build_agent_identity_map is not SDK_BUILDER
    agents = build_agents(lambda spec: OfflineModel(spec.name))
    keys = identity._build_agent_identity_keys_by_id(agents["triage"])
    assert keys == {id(agent): name for name, agent in SDK_BUILDER(agents["triage"]).items()}

"""The desk's faster agent identity keys give the SDK's own answer."""

from __future__ import annotations

from agents import Agent

from agents_config import sdk
from agents_config.agents import build_agents
from agents_config.offline import OfflineModel


def test_identity_keys_match_the_sdk_for_the_desks_agents() -> None:
    agents = build_agents(lambda spec: OfflineModel(spec.name))
    for agent in agents.values():
        assert sdk.identity_keys(agent) == sdk._SDK_KEYS(agent)


def test_duplicate_names_are_left_to_the_sdk() -> None:
    first = Agent(name="twin", instructions="one")
    second = Agent(name="twin", instructions="two")
    root = Agent(name="root", handoffs=[first, second])
    keys = sdk.identity_keys(root)
    assert keys == sdk._SDK_KEYS(root)
    assert sorted(keys.values()) == ["root", "twin", "twin#2"]


def test_installed_where_the_sdk_looks_it_up() -> None:
    sdk.install()
    from agents.run_internal import tool_use_tracker

    assert tool_use_tracker._build_agent_identity_keys_by_id is sdk.identity_keys

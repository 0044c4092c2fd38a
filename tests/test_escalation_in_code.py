"""Escalation and outages decided in code, whatever the model writes or how long it hangs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from agents.testing import assistant_message

from fakes.openai_server import FakeOpenAI
from tests.conftest import DeskFactory
from tests.scripting import call, handoff, scripted


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


async def test_fallback_that_never_calls_the_tool_still_escalates(
    start_desk: DeskFactory,
) -> None:
    model, resolver = scripted(
        handoff("fallback"),
        [assistant_message("Someone will contact you soon.")],  # no escalate_to_human
    )
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_BOB", "I want to speak to someone about my bill")
    await desk.settle()

    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated"
    [escalation] = await desk.runtime.receiver.store.tickets.escalations(ticket.id)
    assert "speak to someone" in escalation.summary
    [staff_post] = desk.slack.messages(channel="C_STAFF")
    assert f"Ticket #{ticket.id}" in staff_post["text"]
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert f"#{ticket.id}" in reply["text"]  # the user learns the number
    model.assert_complete()


async def test_fallback_that_calls_the_tool_escalates_once(start_desk: DeskFactory) -> None:
    scripted_model, resolver = scripted(
        handoff("fallback"),
        call("escalate_to_human", {"reason": "asked for a person", "summary": "bill"}),
        [assistant_message("A person will follow up.")],
    )
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_BOB", "a person please")
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None
    [escalation] = await desk.runtime.receiver.store.tickets.escalations(ticket.id)
    assert escalation.reason == "asked for a person"
    assert len(desk.slack.messages(channel="C_STAFF")) == 1
    scripted_model.assert_complete()


async def test_a_hanging_model_costs_one_timeout_per_answer(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    """triage and billing_specialist both run on the hanging model: only the first call waits
    for MODEL_TIMEOUT_S; the second agent skips the model marked down and the offline engine
    answers."""
    model.hang = True
    desk = await start_desk(
        model_provider="openai",
        openai_base_url=model.url,
        openai_api_key="sk-test",
        model_timeout_s=0.5,
    )
    _, _, event = await desk.events.message("U_ALICE", "What do I owe you at the moment?")
    await desk.settle()

    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None
    assert ticket.agent_path[:2] == ["triage", "billing_specialist"]
    assert ticket.status == "answered"
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "offline engine" in reply["text"]
    assert len(model.calls) == 1  # one call reached the hanging model and timed out

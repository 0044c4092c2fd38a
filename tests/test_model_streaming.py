"""Streaming through the model stack: timeouts, the fallback chain, the offline engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import Agent, Model, ModelSettings, Runner
from agents.models.interface import ModelTracing

from agents_config.models import FallbackModel, ModelHealth, ModelTimeoutError, TimeoutModel
from agents_config.offline import OfflineModel
from agents_config.offline.model import text_deltas


class _Event:
    def __init__(self, type: str, delta: str = "") -> None:
        self.type = type
        self.delta = delta


class StubModel(Model):
    """A model whose stream is a script: events, `"hang"` (never answers) or an exception."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.calls = 0
        self.closed = 0

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self.calls += 1
        try:
            for step in self.script:
                if step == "hang":
                    await asyncio.Event().wait()
                if isinstance(step, BaseException):
                    raise step
                yield step
        finally:
            self.closed += 1


def _outage() -> Exception:
    return ModelTimeoutError("the provider is down")


async def _drain(model: Model) -> list[Any]:
    stream = model.stream_response(None, "hi", ModelSettings(), [], None, [], ModelTracing.DISABLED)
    return [event async for event in stream]


CREATED = _Event("response.created")
TOKEN = _Event("response.output_text.delta", "Hello")
DONE = _Event("response.completed")


async def test_a_stream_that_never_starts_times_out() -> None:
    model = TimeoutModel(StubModel(["hang"]), timeout_s=0.05)
    with pytest.raises(ModelTimeoutError):
        await _drain(model)


async def test_a_stream_that_stalls_between_events_times_out() -> None:
    inner = StubModel([CREATED, TOKEN, "hang"])
    model = TimeoutModel(inner, timeout_s=0.05)
    seen: list[Any] = []
    with pytest.raises(ModelTimeoutError):
        async for event in model.stream_response(
            None, "hi", ModelSettings(), [], None, [], ModelTracing.DISABLED
        ):
            seen.append(event)
    assert seen == [CREATED, TOKEN]
    assert inner.closed == 1  # the stalled stream was closed, not left hanging


async def test_a_slow_but_steady_stream_is_not_cut() -> None:
    class Steady(StubModel):
        async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            for _ in range(5):
                await asyncio.sleep(0.02)
                yield TOKEN

    events = await _drain(TimeoutModel(Steady([]), timeout_s=0.5))
    assert len(events) == 5


async def test_fallback_moves_down_the_chain_before_the_first_token() -> None:
    primary = StubModel([CREATED, _outage()])
    backup = StubModel([CREATED, TOKEN, DONE])
    health = ModelHealth()
    model = FallbackModel([("primary", primary), ("backup", backup)], health)
    events = await _drain(model)
    assert events == [CREATED, TOKEN, DONE]  # the primary's created event was not passed on
    assert health.is_down("primary")
    assert primary.closed == 1
    # the cooldown is shared: the next stream skips the primary without trying it
    await _drain(model)
    assert primary.calls == 1 and backup.calls == 2


async def test_a_timeout_before_the_first_token_falls_back_too() -> None:
    primary = TimeoutModel(StubModel(["hang"]), timeout_s=0.05)
    backup = StubModel([TOKEN, DONE])
    events = await _drain(FallbackModel([("primary", primary), ("backup", backup)]))
    assert events == [TOKEN, DONE]


async def test_a_failure_after_the_first_token_is_the_runs() -> None:
    primary = StubModel([CREATED, TOKEN, _outage()])
    backup = StubModel([TOKEN, DONE])
    model = FallbackModel([("primary", primary), ("backup", backup)])
    with pytest.raises(ModelTimeoutError):
        await _drain(model)
    assert backup.calls == 0  # never a second answer after words were shown


async def test_the_last_model_in_the_chain_raises() -> None:
    model = FallbackModel([("primary", StubModel([_outage()])), ("b", StubModel([_outage()]))])
    with pytest.raises(ModelTimeoutError):
        await _drain(model)


def test_text_deltas_join_back_to_the_text() -> None:
    text = "Hello  Alice,\nyour invoice INV-2001 is paid. Anything else?"
    deltas = text_deltas(text)
    assert "".join(deltas) == text and len(deltas) > 1


async def test_the_offline_engine_streams_text_deltas_through_the_runner() -> None:
    agent: Agent[None] = Agent(
        name="triage",
        instructions="Ask one clarifying question.",
        model=TimeoutModel(OfflineModel("triage"), 5),
    )
    result = Runner.run_streamed(agent, "hello")
    deltas = [
        event.data.delta
        async for event in result.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    assert len(deltas) > 1
    assert "".join(deltas) == result.final_output


async def test_streamed_text_never_shows_part_of_another_customers_email() -> None:
    from types import SimpleNamespace

    from agents_config.desk import _Screen
    from agents_config.progress import TextDelta

    text = "Sure, the owner of that account is reachable at bob@contoso.example, call him. " * 2
    screen = _Screen(SimpleNamespace(request_text="who owns it?"))  # type: ignore[arg-type]
    screen._markers = {"bob@contoso.example", "Bob Martin", "Contoso Ltd"}
    shown = ""
    for char in text:  # the worst case: one character a token
        released = await screen.release(TextDelta(char))
        shown += released.text if released else ""
    assert screen.tripped
    assert shown and "bob@" not in shown and shown.startswith("Sure, the owner")


async def test_a_clean_answer_is_released_as_it_is_written() -> None:
    from types import SimpleNamespace

    from agents_config.desk import _Screen
    from agents_config.progress import TextDelta

    screen = _Screen(SimpleNamespace(request_text=""))  # type: ignore[arg-type]
    screen._markers = set()
    text = "Your invoice INV-2003 is open and due on the 11th. " * 4
    shown = ""
    for word in text.split(" "):
        released = await screen.release(TextDelta(word + " "))
        shown += released.text if released else ""
    assert not screen.tripped
    assert len(shown) >= len(text) - screen.DIGIT_WINDOW - screen.CHECK_EVERY


async def test_the_first_words_show_at_once_and_what_could_become_an_identifier_waits() -> None:
    from types import SimpleNamespace

    from agents_config.desk import _Screen
    from agents_config.progress import TextDelta

    screen = _Screen(SimpleNamespace(request_text=""))  # type: ignore[arg-type]
    screen._markers = {"bob@contoso.example", "Bob Martin", "INV-2002"}
    first = await screen.release(TextDelta("Hello! "))
    assert first is not None and first.text == "Hello! "  # nothing in it could be a secret
    shown = first.text
    for token in ["Your ", "colleague ", "Bob", " Mar", "tin ", "can ", "help."]:
        released = await screen.release(TextDelta(token))
        shown += released.text if released else ""
        assert "Bob" not in shown and "Mar" not in shown  # a name is never shown in part
    assert screen.tripped and shown.startswith("Hello! ")


@pytest.mark.parametrize(
    "tokens",
    [
        ["Noted: ", "123 ", "is ", "my ", "security ", "code", " and more text " * 4],
        ["Your card ", "4242 4242 ", "4242 4242 ", "is on file", " and more text " * 4],
    ],
)
async def test_a_security_code_or_card_number_never_shows_while_streaming(
    tokens: list[str],
) -> None:
    from types import SimpleNamespace

    from agents_config.desk import _Screen
    from agents_config.progress import TextDelta

    screen = _Screen(SimpleNamespace(request_text=""))  # type: ignore[arg-type]
    screen._markers = set()
    shown = ""
    for token in tokens:
        released = await screen.release(TextDelta(token))
        shown += released.text if released else ""
    assert screen.tripped and not any(digit in shown for digit in "1234")

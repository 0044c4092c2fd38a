"""Streamed answers in Slack: signed events in, chat.startStream / appendStream / stopStream out."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import assistant_message

from bot.blocks import ANSWER_FEEDBACK, TALK_TO_PERSON
from bot.slack import REPLY_EVENT_TYPE
from fakes.openai_server import FakeOpenAI
from fakes.slack import TEAM_ID, FakeSlack, SlackEvents
from tests.conftest import SIGNING_SECRET, Desk, DeskFactory
from tests.scripting import REFUND_QUESTION, refund_check, scripted
from tests.test_durability import ServeProcess, free_port, openai_settings, serve_env
from tests.test_staff import block_text

STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")
LONG_TAIL = ". " + " ".join(f"Step {i} of the answer is explained here." for i in range(40))


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


def stream_calls(slack: FakeSlack) -> list[tuple[str, dict[str, Any]]]:
    return [(m, p) for m, p in slack.calls if m in STREAM_METHODS or m == "chat.update"]


def action_ids(message: dict[str, Any]) -> set[str]:
    """The action ids of the buttons a message shows (feedback buttons, Stop, …)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("action_id"), str):
                found.add(node["action_id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks") or [])
    return found


def reply_turn(message: dict[str, Any]) -> int | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != REPLY_EVENT_TYPE:
        return None
    return int(metadata["event_payload"]["turn"])


async def test_a_routed_answer_streams_with_a_task_for_the_handoffs_and_each_tool(
    start_desk: DeskFactory,
) -> None:
    model, resolver = scripted(
        *refund_check("Good news: **ORD-1001** can be refunded. Shall I go ahead?")
    )
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_ALICE", REFUND_QUESTION)
    await desk.settle()

    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"] == "Good news: **ORD-1001** can be refunded. Shall I go ahead?"
    assert desk.slack.calls_to("chat.postMessage") == []  # streamed, not posted
    methods = [m for m, _ in stream_calls(desk.slack)]
    assert methods[0] == "chat.startStream" and methods[-1] == "chat.stopStream"
    assert set(methods[1:-1]) <= {"chat.appendStream"}
    [start] = desk.slack.calls_to("chat.startStream")
    # in a channel Slack requires who the stream is for
    assert (start["recipient_user_id"], start["recipient_team_id"]) == ("U_ALICE", TEAM_ID)
    assert start["thread_ts"] == event["ts"]
    stream = desk.slack.stream_of("C_SUPPORT", reply["ts"])
    assert stream is not None and stream["state"] == "stopped"
    titles = {t["title"]: t["status"] for t in stream["tasks"].values()}
    assert titles == {
        "Our billing specialist is on it": "complete",
        "Our refunds specialist is on it": "complete",
        "Checking refund eligibility for ORD-1001": "complete",
    }
    # the stopped stream names its turn, so a restarted desk finds it; the inbox has its ts
    inbox = await desk.runtime.receiver.store.inbox.get(reply_turn(reply) or 0)
    assert inbox is not None and inbox.stream_ts == inbox.reply_ts == reply["ts"]
    model.assert_complete()


async def test_an_offline_answer_streams_in_a_dm(start_desk: DeskFactory) -> None:
    # No "Reading your request" step first, however loaded the machine: this is about the words.
    desk = await start_desk(working_indicator_delay_s=60)
    inbox = desk.runtime.workers.store.inbox
    set_stream = inbox.set_stream
    calls_when_recorded: list[int] = []

    async def recorded(*args):  # type: ignore[no-untyped-def]
        calls_when_recorded.append(len(desk.slack.calls))
        await set_stream(*args)

    inbox.set_stream = recorded  # type: ignore[method-assign]
    _, _, event = await desk.events.message("U_ALICE", "How do I reset my password?", "D_ALICE")
    await desk.settle()
    [reply] = desk.slack.replies_in("D_ALICE", event["ts"])
    stream = desk.slack.stream_of("D_ALICE", reply["ts"])
    assert stream is not None and stream["state"] == "stopped"
    texts = [c["text"] for c in stream["chunks"] if c["type"] == "markdown_text"]
    assert "".join(texts) == reply["text"]
    # the stream starts with the steps so far and its Stop button, no words: its ts is
    # recorded before any words show (a desk killed in between finishes this message)
    [start] = desk.slack.calls_to("chat.startStream")
    assert [c["type"] for c in start["chunks"]] == ["task_update", "task_update", "blocks"]
    assert "markdown_text" not in start
    [recorded_at] = calls_when_recorded
    before = [p for m, p in desk.slack.calls[:recorded_at] if m in STREAM_METHODS]
    assert before == [start]
    [first_words, *_] = desk.slack.calls_to("chat.appendStream")
    assert first_words["chunks"][0]["type"] == "markdown_text"
    assert "password" in reply["text"].lower()
    assert reply_turn(reply) is not None


async def test_appends_are_buffered(start_desk: DeskFactory, model: FakeOpenAI) -> None:
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.01  # about 300 tokens over 3 s
    desk = await start_desk(stream_flush_ms=500, **openai_settings(model))
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"].endswith("Step 39 of the answer is explained here.")
    appends = desk.slack.calls_to("chat.appendStream")
    tokens = len(reply["text"].split())  # one word a token
    assert tokens > 300 and 1 <= len(appends) < tokens / 10  # one call per many tokens


async def test_a_stream_slack_closes_midway_is_finished_once_by_update(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.01
    desk = await start_desk(stream_flush_ms=100, **openai_settings(model))
    desk.slack.close_streams_after(1)  # as Slack closes a stream that is too old
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.settle()

    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"].startswith("Here is my answer to: Tell me everything about billing")
    assert reply["text"].endswith("Step 39 of the answer is explained here.")
    assert reply_turn(reply) is not None
    assert desk.slack.calls_to("chat.postMessage") == []
    assert len(desk.slack.calls_to("chat.update")) == 1
    # the update replaces the blocks too: no Stop button left, the feedback under the answer
    assert action_ids(reply) == {ANSWER_FEEDBACK, TALK_TO_PERSON}
    assert "Step 39 of the answer" in block_text(reply)
    assert (await desk.runtime.receiver.store.inbox.counts()) == {"answered": 1}


async def test_when_the_update_is_refused_too_the_answer_is_posted_once(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.01
    desk = await start_desk(stream_flush_ms=100, **openai_settings(model))
    desk.slack.fail("chat.appendStream", "message_not_in_streaming_state", status=200, times=99)
    desk.slack.fail("chat.update", "cant_update_message", status=200)
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.settle()
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    finished = [r for r in replies if reply_turn(r) is not None]
    assert len(finished) == 1 and finished[0]["text"].endswith("explained here.")
    assert len(desk.slack.calls_to("chat.postMessage")) == 1
    assert action_ids(finished[0]) == {ANSWER_FEEDBACK, TALK_TO_PERSON}


async def test_an_answer_longer_than_a_stream_continues_below(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.answer_tail = " " + "word " * 3000  # 15,000 characters
    model.words_per_token = 50
    desk = await start_desk(**openai_settings(model))
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.settle()
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert len(replies) >= 2
    assert all(reply_turn(r) is not None for r in replies)
    # the feedback is under the answer's last part, and only there
    assert [action_ids(r) for r in replies][-1] == {ANSWER_FEEDBACK, TALK_TO_PERSON}
    assert all(not action_ids(r) & {ANSWER_FEEDBACK, "stop_answer"} for r in replies[:-1])
    for method, params in stream_calls(desk.slack):
        assert len(params.get("markdown_text") or "") <= 12_000, method
        for chunk in params.get("chunks") or []:
            assert len(chunk.get("text") or "") <= 12_000, method


async def test_a_link_in_a_channels_streamed_answer_shows_its_target(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.answer_tail = " See [Open your invoice](https://evil.example/phish) now."
    model.words_per_token = 1
    desk = await start_desk(**openai_settings(model))
    _, _, event = await desk.events.message("U_ALICE", "Where is my invoice?")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "Open your invoice (https://evil.example/phish)" in reply["text"]
    for method, params in stream_calls(desk.slack):  # never a live link, not even mid-way
        streamed = str(params.get("markdown_text") or "") + str(params.get("chunks") or "")
        assert "](https://evil" not in streamed, method


async def test_the_help_centres_words_are_quoted_not_shown_as_entities(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()  # the offline engine quotes the article it cites
    _, _, event = await desk.events.message("U_ALICE", "how do I reset my password? <b>")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "\n> 1. Open the sign-in page" in reply["text"]
    assert "&gt; 1." not in reply["text"]
    for _, params in stream_calls(desk.slack):  # what the user wrote stays escaped
        assert "<b>" not in str(params.get("markdown_text") or "")


async def test_a_failure_after_the_first_token_ends_in_the_apology(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.answer_tail = LONG_TAIL
    model.stall_after_tokens = 5
    desk = await start_desk(model_timeout_s=1, offline_fallback=False, **openai_settings(model))
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"].startswith("Sorry, I couldn't finish answering this one.")
    assert reply_turn(reply) is not None
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated"


async def test_sigkill_mid_stream_then_restart_finishes_the_same_message(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.05
    model.stall_after_tokens = 30  # the stream is mid-way when the desk is killed
    env = {**serve_env(tmp_path, slack, model), "STREAM_FLUSH_MS": "100"}
    desk = ServeProcess(env, free_port())
    await desk.start()
    async with SlackEvents(f"{desk.url}/slack/events", SIGNING_SECRET, slack=slack) as events:
        _, _, event = await events.message("U_ALICE", "Where is my invoice?")
        await slack.wait_for("chat.appendStream", timeout=30)  # its ts is recorded by now
        await desk.signal(signal.SIGKILL)
        [partial] = slack.replies_in("C_SUPPORT", event["ts"])
        assert slack.stream_of("C_SUPPORT", partial["ts"])["state"] == "streaming"  # type: ignore[index]

        model.stall_after_tokens = None
        model.token_delay_s = 0
        restarted = ServeProcess(desk.env, free_port())
        await restarted.start()
        try:
            await slack.wait_for_replies("C_SUPPORT", event["ts"], 1, timeout=30)
            await slack.wait_for(
                lambda m, p: m == "chat.update" and p.get("ts") == partial["ts"], timeout=30
            )
            [reply] = slack.replies_in("C_SUPPORT", event["ts"])
            assert reply["ts"] == partial["ts"]  # the same message, finished whole
            # stopped before it is replaced: Slack may refuse to update a live stream
            on_it = [m for m, p in slack.calls if p.get("ts") == partial["ts"]]
            assert on_it.index("chat.stopStream") < on_it.index("chat.update")
            assert reply["text"].endswith("Step 39 of the answer is explained here.")
            assert reply_turn(reply) is not None
            assert slack.calls_to("chat.postMessage") == []
        finally:
            assert await restarted.signal(signal.SIGTERM) == 0


async def test_sigkill_before_the_streams_ts_is_recorded_then_restart_finishes_it(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    # Slack starts the stream, but the desk is killed before it hears back: nothing in the
    # inbox names that message, yet the restarted desk must finish it, not post a second one
    slack.delay("chat.startStream", 30, after=True)
    desk = ServeProcess(serve_env(tmp_path, slack, model), free_port())
    await desk.start()
    async with SlackEvents(f"{desk.url}/slack/events", SIGNING_SECRET, slack=slack) as events:
        _, _, event = await events.message("U_ALICE", "Where is my invoice?")
        for _ in range(300):
            if slack.replies_in("C_SUPPORT", event["ts"]):
                break
            await asyncio.sleep(0.05)
        await desk.signal(signal.SIGKILL)
        [orphan] = slack.replies_in("C_SUPPORT", event["ts"])
        assert slack.stream_of("C_SUPPORT", orphan["ts"])["state"] == "streaming"  # type: ignore[index]

        slack.delay("chat.startStream", 0)
        restarted = ServeProcess(desk.env, free_port())
        await restarted.start()
        try:
            await slack.wait_for(
                lambda m, p: m == "chat.update" and p.get("ts") == orphan["ts"], timeout=30
            )
            [reply] = slack.replies_in("C_SUPPORT", event["ts"])
            assert reply["ts"] == orphan["ts"]
            assert reply["text"] and reply_turn(reply) is not None
            assert "stop_answer" not in action_ids(reply)
            assert len(slack.calls_to("chat.startStream")) == 1
        finally:
            assert await restarted.signal(signal.SIGTERM) == 0


async def test_only_the_desks_own_unfinished_stream_after_the_message_is_taken_up() -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.blocks import STOP_ANSWER, stop_control
    from bot.slack import SlackGateway, reply_metadata
    from fakes.slack import BOT_USER_ID

    async with FakeSlack() as slack:
        gateway = SlackGateway(AsyncWebClient(token="xoxb-test", base_url=slack.url))
        question = slack.inject_message("C_SUPPORT", "U_ALICE", "Where is my invoice?")
        thread = question["ts"]
        stop = stop_control()
        # someone else's message with a Stop button, a finished answer naming its turn, and
        # the desk's stream of an earlier message (before this one) are not taken up
        earlier = slack.inject_message(
            "C_SUPPORT", BOT_USER_ID, "", ts="1.0", thread_ts=thread, blocks=stop
        )
        slack.inject_message("C_SUPPORT", "U_BOB", "", thread_ts=thread, blocks=stop)
        slack.inject_message(
            "C_SUPPORT",
            BOT_USER_ID,
            "done",
            thread_ts=thread,
            blocks=stop,
            metadata=reply_metadata(7),
        )
        assert earlier["ts"] == "1.0"
        assert await gateway.find_abandoned_stream("C_SUPPORT", thread, thread, STOP_ANSWER) is None
        left = slack.inject_message("C_SUPPORT", BOT_USER_ID, "", thread_ts=thread, blocks=stop)
        found = await gateway.find_abandoned_stream("C_SUPPORT", thread, thread, STOP_ANSWER)
        assert found == left["ts"]
        # an App Home request's row is keyed "request-…" until its DM thread exists: every
        # message of the thread is after it (no error)
        after_any = await gateway.find_abandoned_stream(
            "C_SUPPORT", thread, "request-V1", STOP_ANSWER
        )
        assert after_any == "1.0"


async def test_the_demo_shows_the_streams_steps() -> None:
    from support_desk.config import load_settings
    from support_desk.demo import run_demo

    lines: list[str] = []
    answers = await run_demo(load_settings(_env_file=None, model_provider="offline"), lines.append)
    assert answers > 0
    assert any(line.startswith("  streamed: chat.startStream") for line in lines)
    assert "    ✓ Checking refund eligibility for ORD-1001" in lines


async def test_stop_cancels_the_run_and_keeps_what_was_shown(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    from bot import blocks

    desk, event, streaming = await long_answer(start_desk, model)
    stop = [
        e
        for b in streaming["blocks"]
        for e in b["elements"]
        if e["action_id"] == blocks.STOP_ANSWER
    ]
    assert stop  # a Stop button while it is written

    await desk.events.block_action("U_BOB", blocks.STOP_ANSWER, "stop", message_ts=streaming["ts"])
    assert "only the person who asked" in desk.slack.responses[-1]["text"]
    await desk.events.block_action(
        "U_ALICE", blocks.STOP_ANSWER, "stop", message_ts=streaming["ts"]
    )
    await desk.settle()

    await assert_stopped(desk, event, streaming)


async def test_stop_cancels_a_run_whose_model_went_silent(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    """Stop is honoured while nothing arrives (a stalled model, a slow tool), not only at
    the next token: the run is cancelled long before the model's timeout."""
    from agents_config.desk import STOPPED_NOTE
    from bot import blocks

    model.answer_tail = LONG_TAIL
    model.stall_after_tokens = 10  # then nothing more, for an hour
    desk = await start_desk(stream_flush_ms=100, model_timeout_s=60, **openai_settings(model))
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.slack.wait_for("chat.appendStream", timeout=30)
    [streaming] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    await asyncio.sleep(1.0)  # the model is silent now
    await desk.events.block_action(
        "U_ALICE", blocks.STOP_ANSWER, "stop", message_ts=streaming["ts"]
    )
    await desk.settle(timeout_s=20)  # far less than the 60 s the model would be waited for

    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["ts"] == streaming["ts"] and reply["text"].endswith(STOPPED_NOTE)
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "open"  # not escalated as a failure


SHOWN = "Here is my answer to"  # what a long answer shows before a test stops it


async def long_answer(
    start_desk: DeskFactory, model: FakeOpenAI, *, failing: str | None = None
) -> tuple[Desk, dict[str, Any], dict[str, Any]]:
    """Alice's question in the support channel, answered slowly: the desk, her message and
    the streamed reply, once text is appended to it. `failing`: a Slack method that fails
    from the start."""
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.05  # about 15 s for the whole answer
    desk = await start_desk(stream_flush_ms=100, **openai_settings(model))
    if failing:
        desk.slack.fail(failing, times=10)
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")

    def shown(method: str, _: dict[str, Any]) -> bool:
        # The first words may be flushed alone ("Here "): wait until a sentence is shown.
        replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
        return method == "chat.appendStream" and replies[0]["text"].startswith(SHOWN)

    await desk.slack.wait_for(shown, timeout=30)
    [streaming] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    return desk, event, streaming


async def assert_stopped(desk: Desk, event: dict[str, Any], streaming: dict[str, Any]) -> None:
    """The run was cancelled: the streamed message keeps what was shown, marked stopped, and
    the ticket stays open."""
    from agents_config.desk import STOPPED_NOTE

    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["ts"] == streaming["ts"]
    assert reply["text"].startswith(SHOWN)
    assert reply["text"].endswith(STOPPED_NOTE) and "Step 39" not in reply["text"]
    assert not reply.get("blocks")  # no Stop any more, and no 👍/👎 under a stopped answer
    assert reply_turn(reply) is not None
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "open"  # stays open, not escalated
    assert (await desk.runtime.receiver.store.inbox.counts()) == {"answered": 1}


async def stop_recorded(desk: Desk) -> bool:
    """Whether a stop is recorded for the one answer being written."""
    inbox = desk.runtime.receiver.store.inbox
    [running] = [i for i in await inbox.items() if i.status == "running"]
    return running.id in await inbox.stops_requested([running.id])


async def test_slacks_own_stop_control_stops_only_the_requesters_answer(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    """`agent_session_stopped` naming the streamed message: someone else's does nothing, the
    requester's cancels the run as the Stop button does; the session goes back to active."""
    desk, event, streaming = await long_answer(start_desk, model)
    thread = ("C_SUPPORT", event["ts"])
    await desk.slack.wait_for("agents.sessions.setStatus", timeout=30)
    assert desk.slack.sessions[thread] == "processing"

    status, _ = await desk.events.agent_session_stopped("U_BOB", *thread, [streaming["ts"]])
    assert status == 200
    assert not await stop_recorded(desk)
    status, _ = await desk.events.agent_session_stopped("U_ALICE", *thread, [streaming["ts"]])
    assert status == 200
    await assert_stopped(desk, event, streaming)
    assert desk.slack.session_history == [(*thread, "processing"), (*thread, "active")]
    [started] = desk.slack.calls_to("agents.sessions.setStatus")[:1]
    assert started["initiator_user_id"] == "U_ALICE"


async def test_slacks_stop_control_naming_no_message_stops_the_answer_in_that_thread(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    desk, event, streaming = await long_answer(start_desk, model)
    await desk.events.agent_session_stopped("U_BOB", "C_SUPPORT", event["ts"], [])
    assert not await stop_recorded(desk)
    await desk.events.agent_session_stopped("U_ALICE", "C_SUPPORT", event["ts"], [])
    await assert_stopped(desk, event, streaming)


async def test_a_turn_that_fails_after_streaming_is_retried_into_the_same_message(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.01
    desk = await start_desk(stream_flush_ms=50, **openai_settings(model))
    real_handle = desk.runtime.workers.desk.handle
    attempts: list[int] = []

    async def fails_once_mid_stream(turn, progress=None):  # type: ignore[no-untyped-def]
        attempts.append(turn.turn_id)
        outcome = await real_handle(turn, progress)
        if len(attempts) == 1:  # streamed, then the desk fails before it is delivered
            assert desk.slack.calls_to("chat.appendStream")
            raise RuntimeError("the desk lost its database mid-answer")
        return outcome

    desk.runtime.workers.desk.handle = fails_once_mid_stream  # type: ignore[method-assign]
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.settle()
    assert len(attempts) == 2
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"].endswith("Step 39 of the answer is explained here.")
    assert reply_turn(reply) is not None
    assert len(desk.slack.calls_to("chat.startStream")) == 1
    assert desk.slack.calls_to("chat.postMessage") == []


async def test_a_failing_progress_never_fails_the_run(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    real_handle = desk.runtime.workers.desk.handle

    async def broken_progress(turn, progress=None):  # type: ignore[no-untyped-def]
        async def fails(event):  # type: ignore[no-untyped-def]
            raise ConnectionError("the Slack side is gone")

        return await real_handle(turn, fails)

    desk.runtime.workers.desk.handle = broken_progress  # type: ignore[method-assign]
    _, _, event = await desk.events.message("U_ALICE", "How do I reset my password?")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "password" in reply["text"].lower() and not reply["text"].startswith("Sorry")
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "answered"


async def test_a_hostile_long_answer_stays_escaped_and_within_slacks_limits(
    start_desk: DeskFactory,
) -> None:
    from tests.slack_markup import assert_only_desk_markup

    answer = "<!channel> <@U_BOB> " * 900  # 18,000 characters, 40,000 once escaped
    _, resolver = scripted([assistant_message(answer)])
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_ALICE", "ping everyone")
    await desk.settle()
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert replies and all(reply_turn(r) is not None for r in replies)
    assert assert_only_desk_markup(desk.slack.calls) == []
    for method, params in stream_calls(desk.slack):
        assert len(params.get("markdown_text") or "") <= 12_000, method
        for chunk in params.get("chunks") or []:
            assert len(chunk.get("text") or "") <= 12_000, method
    shown = "".join(r["text"] for r in replies)
    assert shown.count("&lt;!channel&gt;") == 900


async def test_stop_works_in_the_dm_thread_the_app_home_form_opens(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    """The form's inbox row names the user, not the DM its answer streams in: Stop still
    finds the answer (by the stream's own conversation), and only for the requester."""
    from agents_config.desk import STOPPED_NOTE
    from bot import blocks

    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.05  # about 15 s for the whole answer
    desk = await start_desk(stream_flush_ms=100, **openai_settings(model))
    texts = {"about": "Billing", "description": "Tell me everything about billing"}
    await desk.events.view_submission("U_CAROL", blocks.NEW_REQUEST, texts, {"urgency": "normal"})
    await desk.slack.wait_for("chat.appendStream", timeout=30)
    [started] = desk.slack.calls_to("chat.startStream")
    dm, header_ts = started["channel"], started["thread_ts"]
    assert dm == "D_CAROL"
    [streaming] = desk.slack.replies_in(dm, header_ts)

    await desk.events.block_action(
        "U_BOB", blocks.STOP_ANSWER, "stop", channel=dm, message_ts=streaming["ts"]
    )
    assert "only the person who asked" in desk.slack.responses[-1]["text"]
    await desk.events.block_action(
        "U_CAROL", blocks.STOP_ANSWER, "stop", channel=dm, message_ts=streaming["ts"]
    )
    await desk.settle()

    [reply] = desk.slack.replies_in(dm, header_ts)
    assert reply["ts"] == streaming["ts"]
    assert reply["text"].endswith(STOPPED_NOTE) and "Step 39" not in reply["text"]
    ticket = await desk.runtime.receiver.store.tickets.by_thread(dm, header_ts)
    assert ticket is not None and ticket.status == "open"


async def test_many_threads_at_once_cost_few_appends_and_survive_429s(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    """20 long answers streamed at once, Slack answering some appends 429: each answer is
    delivered once, whole, and the appends stay buffered (no storm of calls a token)."""
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.01  # about 300 tokens over 3 s, for each answer
    desk = await start_desk(stream_flush_ms=500, **openai_settings(model))
    desk.slack.rate_limit("chat.appendStream", times=5, retry_after=0)
    for n in range(20):  # people Slack knows: each the recipient of a stream in the channel
        desk.slack.add_user(f"U_{n:03d}", f"User {n}", f"user{n}@example.com")
    sent = await asyncio.gather(
        *(
            desk.events.message(f"U_{n:03d}", f"Tell me everything about billing {n}")
            for n in range(20)
        )
    )
    await desk.settle(timeout_s=60)
    for _, _, event in sent:
        [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
        assert reply["text"].endswith("Step 39 of the answer is explained here.")
        assert reply_turn(reply) is not None
    assert len(desk.slack.calls_to("chat.stopStream")) == 20  # every answer streamed
    for stream in desk.slack.streams.values():
        # buffered: about one append a flush interval (0.5 s), however slow the machine is —
        # a flush falls due by an event and by the buffer's timer, so two can share one
        # interval — plus the first words', a working step's and a full buffer's; not one a
        # token (with a 10 ms flush it is 38 in 5.6 s)
        lasted = stream["stopped_at"] - stream["started_at"]
        assert 1 <= stream["appends"] <= 2 * lasted / 0.5 + 3, (stream["appends"], lasted)
    assert (await desk.runtime.receiver.store.inbox.counts()) == {"answered": 20}


async def test_a_429_that_outlives_the_retries_is_finished_once_by_update(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.answer_tail = LONG_TAIL
    model.token_delay_s = 0.01
    desk = await start_desk(stream_flush_ms=100, **openai_settings(model))
    desk.slack.rate_limit("chat.appendStream", times=99, retry_after=0)
    _, _, event = await desk.events.message("U_ALICE", "Tell me everything about billing")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"].endswith("Step 39 of the answer is explained here.")
    assert reply_turn(reply) is not None
    appends = desk.slack.calls_to("chat.appendStream")
    assert 1 < len(appends) <= 4  # retried by the client, then no storm of further appends
    assert desk.slack.calls_to("chat.postMessage") == []
    assert len(desk.slack.calls_to("chat.update")) == 1


async def test_an_escalation_shows_passing_to_our_staff_once(start_desk: DeskFactory) -> None:
    # offline, the hand-over to the fallback agent and its escalate tool carry the same label
    desk = await start_desk()
    _, _, event = await desk.events.message(
        "U_ALICE", "This is unacceptable, I want to talk to a human."
    )
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    stream = desk.slack.stream_of("C_SUPPORT", reply["ts"])
    assert stream is not None
    titles = [t["title"] for t in stream["tasks"].values()]
    assert titles.count("Passing this to our support staff") == 1, titles
    assert all(t["status"] == "complete" for t in stream["tasks"].values())


async def test_a_failing_session_status_never_fails_the_answer(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    desk, event, streaming = await long_answer(
        start_desk, model, failing="agents.sessions.setStatus"
    )
    await desk.slack.wait_for("agents.sessions.setStatus", timeout=30)  # refused
    model.token_delay_s = 0.001  # the rest of the answer quickly
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["ts"] == streaming["ts"] and reply["text"].endswith(
        "Step 39 of the answer is explained here."
    )
    assert (await desk.runtime.receiver.store.inbox.counts()) == {"answered": 1}
    assert desk.slack.sessions == {}  # every session call refused


async def test_session_status_is_checked_as_slack_does_and_an_unsubscribed_app_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack import MISSING_STOP_SUBSCRIPTION, SlackGateway

    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
        refused = [
            {"channel_id": "C_SUPPORT", "thread_ts": "1.0", "status": "busy"},
            {"channel_id": "C_SUPPORT", "status": "active"},
            {"channel_id": "C_NOWHERE", "thread_ts": "1.0", "status": "active"},
            {"channel_id": "C_SUPPORT", "thread_ts": "1.0", "status": "active", "colour": "red"},
            {"channel_id": "C_SUPPORT", "thread_ts": "1.0"},
        ]
        for params in refused:
            with pytest.raises(SlackApiError):
                await client.api_call("agents.sessions.setStatus", json=params)
        assert slack.sessions == {}

        gateway = SlackGateway(client)
        slack.session_warning = MISSING_STOP_SUBSCRIPTION
        caplog.set_level(logging.WARNING, logger="bot.slack")
        await gateway.set_session_status("C_SUPPORT", "1.0", "processing", user="U_ALICE")
        await gateway.set_session_status("C_SUPPORT", "1.0", "active")
        assert slack.sessions == {("C_SUPPORT", "1.0"): "active"}
        assert sum("agent_session_stopped" in r.getMessage() for r in caplog.records) == 1
        slack.fail("agents.sessions.setStatus", "channel_not_found")
        await gateway.set_session_status("C_SUPPORT", "1.0", "processing")  # logged, not raised
        assert any(r.getMessage() == "agent session not updated" for r in caplog.records)


async def test_stop_requests_are_read_once_for_all_streams(tmp_path: Path) -> None:
    """A worker reads the stop requests of all the answers it streams in one query an
    interval (per-stream reads were a queue in front of every database call at 50 at once),
    and still sees the requester's stop within an interval."""
    from bot.worker import StopRequests
    from storage.store import Store
    from tests.databases import database_for

    store = await Store.open(database_for(tmp_path / "stops.db"))
    try:
        inbox = store.inbox
        for n in range(3):
            await inbox.accept(
                kind="message",
                channel="C_SUPPORT",
                ts=f"1.{n}",
                thread_ts=f"1.{n}",
                user_id="U_ALICE",
                text="hello",
            )
        items = await inbox.claim(3, "w1")
        for item in items:
            await inbox.set_stream(item, item.channel, f"9.{item.id}")
        reads: list[set[int]] = []
        real = inbox.stops_requested

        async def counted(ids):  # type: ignore[no-untyped-def]
            reads.append(set(ids))
            return await real(ids)

        inbox.stops_requested = counted  # type: ignore[method-assign]
        stops = StopRequests(store, interval_s=0.2)
        assert [await stops.requested(i.id) for i in items] == [False, False, False]
        assert len(reads) == 1  # the first stream read; the others shared it

        first = items[0]
        assert await inbox.request_stop("C_SUPPORT", f"9.{first.id}", "U_ALICE")
        await asyncio.sleep(0.25)
        assert await stops.requested(items[1].id) is False
        assert await stops.requested(first.id) is True
        assert len(reads) == 2 and reads[1] == {i.id for i in items}
        stops.forget(first.id)
        await asyncio.sleep(0.25)
        await stops.requested(items[1].id)
        assert reads[2] == {items[1].id, items[2].id}  # a finished answer is not read
    finally:
        await store.close()

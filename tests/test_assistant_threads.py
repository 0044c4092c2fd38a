"""Assistant threads (Slack's AI app view): greeting, suggested prompts, status, title."""

from __future__ import annotations

from bot.listeners.assistant import GREETING, PROMPTS, STAFF_PROMPTS
from bot.worker import WORKING_STATUS
from tests.conftest import DeskFactory


async def test_a_started_thread_is_greeted_with_suggested_prompts(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    status, _, event = await desk.events.assistant_thread_started(
        "U_ALICE", context_channel="C_SUPPORT"
    )
    assert status == 200
    thread = event["assistant_thread"]
    key = (thread["channel_id"], thread["thread_ts"])
    [greeting] = desk.slack.replies_in(*key)
    assert greeting["text"] == GREETING
    assert desk.slack.assistant_threads[key]["prompts"] == PROMPTS
    store = desk.runtime.receiver.store
    assert await store.assistant_threads.is_assistant_thread(*key)

    # the same thread delivered again (a new delivery, not a retry Bolt could drop): greeted once
    again = {k: v for k, v in event.items() if k != "event_id"}
    status, _, _ = await desk.events.send_event(again)
    assert status == 200
    assert len(desk.slack.replies_in(*key)) == 1


async def test_staff_get_their_own_prompts(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.assistant_thread_started("U_ERIN")
    thread = event["assistant_thread"]
    key = (thread["channel_id"], thread["thread_ts"])
    assert desk.slack.assistant_threads[key]["prompts"] == STAFF_PROMPTS


async def test_a_question_in_the_thread_shows_a_status_titles_the_thread_and_streams(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.assistant_thread_started("U_ALICE")
    channel, thread_ts = (
        event["assistant_thread"]["channel_id"],
        event["assistant_thread"]["thread_ts"],
    )
    await desk.events.message(
        "U_ALICE", "How do I reset my password?", channel, thread_ts=thread_ts
    )
    await desk.settle()

    assert (channel, thread_ts, WORKING_STATUS) in desk.slack.status_history
    assert desk.slack.statuses.get((channel, thread_ts), "") == ""  # the reply cleared it
    assert desk.slack.calls_to("reactions.add") == []  # a status, not 👀
    ticket = await desk.runtime.receiver.store.tickets.by_thread(channel, thread_ts)
    assert ticket is not None
    title = desk.slack.assistant_threads[(channel, thread_ts)]["title"]
    assert title == f"#{ticket.id} How do I reset my password?"
    answer = desk.slack.replies_in(channel, thread_ts)[-1]
    assert desk.slack.stream_of(channel, answer["ts"]) is not None
    assert "password" in answer["text"].lower()


async def test_a_context_change_is_recorded(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.assistant_thread_started("U_ALICE")
    thread_ts = event["assistant_thread"]["thread_ts"]
    status, _ = await desk.events.assistant_context_changed("U_ALICE", thread_ts, "C_RANDOM")
    assert status == 200
    channel = event["assistant_thread"]["channel_id"]
    threads = desk.runtime.receiver.store.assistant_threads
    assert await threads.context_channel(channel, thread_ts) == "C_RANDOM"


async def test_a_plain_dm_gets_no_status_or_title(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    await desk.events.message("U_ALICE", "How do I reset my password?", "D_ALICE")
    await desk.settle()
    assert desk.slack.calls_to("assistant.threads.setStatus") == []
    assert desk.slack.calls_to("assistant.threads.setTitle") == []


async def test_a_malformed_assistant_event_is_dropped_not_a_server_error(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    for thread in (
        {},
        {"channel_id": "D_ALICE"},
        {"channel_id": 5, "thread_ts": [], "user_id": None},
    ):
        status, _, _ = await desk.events.send_event(
            {"type": "assistant_thread_started", "assistant_thread": thread, "event_ts": "1.2"}
        )
        assert status in (200, 400)  # acked and dropped, or refused by the shape checks; no 500
    assert desk.slack.calls_to("chat.postMessage") == []
    assert desk.slack.calls_to("assistant.threads.setSuggestedPrompts") == []
